// Command website is an example Weft plugin built outside the Weft repository: a
// custom kind, its controller and its admission hook, depending only on the SDK.
package main

import "weft.dev/weft/sdk"

func init() {
	m, h := Plugin()
	_ = sdk.Register(m, h)
}

func main() {}
