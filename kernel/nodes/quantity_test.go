package nodes_test

import "k8s.io/apimachinery/pkg/api/resource"

type resourceQuantity = resource.Quantity

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
