package core

// The pod decoder: the fields of podtypes.go, read with sdk.JSONReader.

import (
	"bytes"

	"weft.dev/weft/sdk"
)

// decodePod decodes a pod's name and the parts of its spec the rules read; spec is
// nil when the pod has none. raw is the spec's bytes, as they came.
func decodePod(b []byte) (name string, spec *podSpec, raw []byte, err error) {
	r := sdk.NewJSONReader(b)
	r.Object(func(k []byte) {
		switch string(k) {
		case "metadata":
			readName(r, &name)
		case "spec":
			start := r.Offset()
			if r.Null() {
				spec, raw = nil, nil
				return
			}
			spec = &podSpec{}
			readPodSpec(r, spec)
			raw = bytes.TrimLeft(b[start:r.Offset()], " \t\n\r")
		default:
			r.Skip()
		}
	})
	if err := r.End(); err != nil {
		return "", nil, nil, err
	}
	return name, spec, raw, nil
}

// readName reads an object's metadata for its name alone.
func readName(r *sdk.JSONReader, name *string) {
	r.Object(func(k []byte) {
		if string(k) == "name" {
			setStr(r, name)
		} else {
			r.Skip()
		}
	})
}

func readPodSpec(r *sdk.JSONReader, s *podSpec) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "volumes":
			s.Volumes = nil // a repeated key replaces, as in encoding/json
			r.Array(func(i int) {
				s.Volumes = append(s.Volumes, volume{})
				readVolume(r, &s.Volumes[i])
			})
		case "initContainers":
			s.InitContainers = nil // a repeated key replaces, as in encoding/json
			r.Array(func(i int) {
				s.InitContainers = append(s.InitContainers, container{})
				readContainer(r, &s.InitContainers[i])
			})
		case "containers":
			s.Containers = nil // a repeated key replaces, as in encoding/json
			r.Array(func(i int) {
				s.Containers = append(s.Containers, container{})
				readContainer(r, &s.Containers[i])
			})
		case "restartPolicy":
			setStr(r, &s.RestartPolicy)
		case "terminationGracePeriodSeconds":
			setIntPtr(r, &s.TerminationGracePeriodSeconds)
		case "activeDeadlineSeconds":
			setIntPtr(r, &s.ActiveDeadlineSeconds)
		case "dnsPolicy":
			setStr(r, &s.DNSPolicy)
		case "dnsConfig":
			s.DNSConfig = present(notNull(r))
		case "serviceAccountName":
			setStr(r, &s.ServiceAccountName)
		case "serviceAccount":
			setStr(r, &s.ServiceAccount)
		case "hostNetwork":
			setBool(r, &s.HostNetwork)
		case "securityContext":
			s.SecurityContext = present(notNull(r))
		case "schedulerName":
			setStr(r, &s.SchedulerName)
		case "tolerations":
			if r.Null() {
				s.Tolerations = nil
				return
			}
			s.Tolerations = []toleration{}
			r.Array(func(i int) {
				s.Tolerations = append(s.Tolerations, toleration{})
				readToleration(r, &s.Tolerations[i])
			})
		case "priorityClassName":
			setStr(r, &s.PriorityClassName)
		case "priority":
			setIntPtr(r, &s.Priority)
		case "enableServiceLinks":
			if r.Null() {
				s.EnableServiceLinks = nil
				return
			}
			var v bool
			setBool(r, &v)
			s.EnableServiceLinks = &v
		case "preemptionPolicy":
			setStr(r, &s.PreemptionPolicy)
		case "schedulingGates":
			s.SchedulingGates = nil // a repeated key replaces, as in encoding/json
			r.Array(func(i int) {
				s.SchedulingGates = append(s.SchedulingGates, schedulingGate{})
				r.Object(func(k []byte) {
					if string(k) == "name" {
						setStr(r, &s.SchedulingGates[i].Name)
					} else {
						r.Skip()
					}
				})
			})
		default:
			r.Skip()
		}
	})
}

func readContainer(r *sdk.JSONReader, c *container) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "name":
			setStr(r, &c.Name)
		case "image":
			setStr(r, &c.Image)
		case "imagePullPolicy":
			setStr(r, &c.ImagePullPolicy)
		case "ports":
			c.Ports = nil // a repeated key replaces, as in encoding/json
			r.Array(func(i int) {
				c.Ports = append(c.Ports, containerPort{})
				p := &c.Ports[i]
				r.Object(func(k []byte) {
					switch string(k) {
					case "name":
						setStr(r, &p.Name)
					case "hostPort":
						setInt(r, &p.HostPort)
					case "containerPort":
						setInt(r, &p.ContainerPort)
					case "protocol":
						setStr(r, &p.Protocol)
					case "hostIP":
						setStr(r, &p.HostIP)
					default:
						r.Skip()
					}
				})
			})
		case "env":
			c.Env = nil // a repeated key replaces, as in encoding/json
			r.Array(func(i int) {
				c.Env = append(c.Env, envVar{})
				readEnvVar(r, &c.Env[i])
			})
		case "resources":
			r.Object(func(k []byte) {
				switch string(k) {
				case "limits":
					c.Resources.Limits = readRawList(r)
				case "requests":
					c.Resources.Requests = readRawList(r)
				default:
					r.Skip()
				}
			})
		case "volumeMounts":
			c.VolumeMounts = nil // a repeated key replaces, as in encoding/json
			r.Array(func(i int) {
				c.VolumeMounts = append(c.VolumeMounts, volumeMount{})
				m := &c.VolumeMounts[i]
				r.Object(func(k []byte) {
					switch string(k) {
					case "name":
						setStr(r, &m.Name)
					case "mountPath":
						setStr(r, &m.MountPath)
					default:
						r.Skip()
					}
				})
			})
		case "livenessProbe":
			c.LivenessProbe = readProbe(r)
		case "readinessProbe":
			c.ReadinessProbe = readProbe(r)
		case "startupProbe":
			c.StartupProbe = readProbe(r)
		case "lifecycle":
			if r.Null() {
				c.Lifecycle = nil
				return
			}
			c.Lifecycle = &lifecycle{}
			r.Object(func(k []byte) {
				switch string(k) {
				case "postStart":
					c.Lifecycle.PostStart = readHandler(r)
				case "preStop":
					c.Lifecycle.PreStop = readHandler(r)
				default:
					r.Skip()
				}
			})
		case "terminationMessagePath":
			setStr(r, &c.TerminationMessagePath)
		case "terminationMessagePolicy":
			setStr(r, &c.TerminationMessagePolicy)
		case "restartPolicy":
			if r.Null() {
				c.RestartPolicy = nil
				return
			}
			var v string
			setStr(r, &v)
			c.RestartPolicy = &v
		default:
			r.Skip()
		}
	})
}

// rawList reads an object of values kept raw; null is nil, {} empty. A repeated key
// replaces the earlier value.
func readRawList(r *sdk.JSONReader) rawList {
	if r.Null() {
		return nil
	}
	l := rawList{}
	r.Object(func(k []byte) {
		v := r.Raw()
		for i := range l {
			if l[i].name == string(k) {
				l[i].raw = v
				return
			}
		}
		l = append(l, rawEntry{string(k), v})
	})
	return l
}

func readEnvVar(r *sdk.JSONReader, e *envVar) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "name":
			setStr(r, &e.Name)
		case "value":
			setStr(r, &e.Value)
		case "valueFrom":
			if r.Null() {
				e.ValueFrom = nil
				return
			}
			vf := &envSource{}
			e.ValueFrom = vf
			r.Object(func(k []byte) {
				switch string(k) {
				case "fieldRef":
					if r.Null() {
						vf.FieldRef = nil
						return
					}
					vf.FieldRef = &fieldRef{}
					r.Object(func(k []byte) {
						if string(k) == "apiVersion" {
							setStr(r, &vf.FieldRef.APIVersion)
						} else {
							r.Skip()
						}
					})
				case "resourceFieldRef":
					vf.ResourceFieldRef = present(notNull(r))
				case "configMapKeyRef":
					vf.ConfigMapKeyRef = present(notNull(r))
				case "secretKeyRef":
					vf.SecretKeyRef = present(notNull(r))
				case "fileKeyRef":
					vf.FileKeyRef = present(notNull(r))
				default:
					r.Skip()
				}
			})
		default:
			r.Skip()
		}
	})
}

// handlerMember reads one member of a probe or lifecycle handler; false if k is not one.
func readHandlerMember(r *sdk.JSONReader, h *handler, k []byte) bool {
	switch string(k) {
	case "exec":
		h.Exec = present(notNull(r))
	case "httpGet":
		if r.Null() {
			h.HTTPGet = nil
			return true
		}
		h.HTTPGet = &httpGet{}
		r.Object(func(k []byte) {
			switch string(k) {
			case "path":
				setStr(r, &h.HTTPGet.Path)
			case "scheme":
				setStr(r, &h.HTTPGet.Scheme)
			default:
				r.Skip()
			}
		})
	case "tcpSocket":
		h.TCPSocket = present(notNull(r))
	case "grpc":
		h.GRPC = present(notNull(r))
	case "sleep":
		h.Sleep = present(notNull(r))
	default:
		return false
	}
	return true
}

func readHandler(r *sdk.JSONReader) *handler {
	if r.Null() {
		return nil
	}
	h := &handler{}
	r.Object(func(k []byte) {
		if !readHandlerMember(r, h, k) {
			r.Skip()
		}
	})
	return h
}

func readProbe(r *sdk.JSONReader) *probe {
	if r.Null() {
		return nil
	}
	p := &probe{}
	r.Object(func(k []byte) {
		if readHandlerMember(r, &p.handler, k) {
			return
		}
		switch string(k) {
		case "initialDelaySeconds":
			setInt(r, &p.InitialDelaySeconds)
		case "timeoutSeconds":
			setInt(r, &p.TimeoutSeconds)
		case "periodSeconds":
			setInt(r, &p.PeriodSeconds)
		case "successThreshold":
			setInt(r, &p.SuccessThreshold)
		case "failureThreshold":
			setInt(r, &p.FailureThreshold)
		case "terminationGracePeriodSeconds":
			setIntPtr(r, &p.TerminationGracePeriodSeconds)
		default:
			r.Skip()
		}
	})
	return p
}

func readToleration(r *sdk.JSONReader, t *toleration) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "key":
			setStr(r, &t.Key)
		case "operator":
			setStr(r, &t.Operator)
		case "value":
			setStr(r, &t.Value)
		case "effect":
			setStr(r, &t.Effect)
		case "tolerationSeconds":
			setIntPtr(r, &t.TolerationSeconds)
		default:
			r.Skip()
		}
	})
}

// modeSrc reads a source with a defaultMode; null is nil.
func readModeSrc(r *sdk.JSONReader) *modeSrc {
	if r.Null() {
		return nil
	}
	m := &modeSrc{}
	r.Object(func(k []byte) {
		if string(k) == "defaultMode" {
			setIntPtr(r, &m.DefaultMode)
		} else {
			r.Skip()
		}
	})
	return m
}

func readVolume(r *sdk.JSONReader, v *volume) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "name":
			setStr(r, &v.Name)
		case "hostPath":
			if r.Null() {
				v.HostPath = nil
				return
			}
			v.HostPath = &hostPathSrc{}
			r.Object(func(k []byte) {
				if string(k) == "type" {
					if r.Null() {
						v.HostPath.Type = nil
						return
					}
					var t string
					setStr(r, &t)
					v.HostPath.Type = &t
				} else {
					r.Skip()
				}
			})
		case "secret":
			v.Secret = readModeSrc(r)
		case "configMap":
			v.ConfigMap = readModeSrc(r)
		case "downwardAPI":
			v.DownwardAPI = readModeSrc(r)
		case "projected":
			v.Projected = readModeSrc(r)
		case "emptyDir":
			v.EmptyDir = present(notNull(r))
		case "gcePersistentDisk":
			v.GCEPersistentDisk = present(notNull(r))
		case "awsElasticBlockStore":
			v.AWSElasticBlockStore = present(notNull(r))
		case "gitRepo":
			v.GitRepo = present(notNull(r))
		case "nfs":
			v.NFS = present(notNull(r))
		case "iscsi":
			v.ISCSI = present(notNull(r))
		case "glusterfs":
			v.Glusterfs = present(notNull(r))
		case "persistentVolumeClaim":
			v.PersistentVolumeClaim = present(notNull(r))
		case "rbd":
			v.RBD = present(notNull(r))
		case "flexVolume":
			v.FlexVolume = present(notNull(r))
		case "cinder":
			v.Cinder = present(notNull(r))
		case "cephfs":
			v.CephFS = present(notNull(r))
		case "flocker":
			v.Flocker = present(notNull(r))
		case "fc":
			v.FC = present(notNull(r))
		case "azureFile":
			v.AzureFile = present(notNull(r))
		case "vsphereVolume":
			v.VsphereVolume = present(notNull(r))
		case "quobyte":
			v.Quobyte = present(notNull(r))
		case "azureDisk":
			v.AzureDisk = present(notNull(r))
		case "photonPersistentDisk":
			v.PhotonPersistentDisk = present(notNull(r))
		case "portworxVolume":
			v.PortworxVolume = present(notNull(r))
		case "scaleIO":
			v.ScaleIO = present(notNull(r))
		case "storageos":
			v.StorageOS = present(notNull(r))
		case "csi":
			v.CSI = present(notNull(r))
		case "ephemeral":
			v.Ephemeral = present(notNull(r))
		case "image":
			v.Image = present(notNull(r))
		default:
			r.Skip()
		}
	})
}

// Small readers for the pod and data decoders, on top of sdk.JSONReader. Each
// leaves its target as it was on null, as encoding/json does for a scalar field (the
// SDK's Str, Int and Bool read null as the zero value instead).

// setStr reads a string into *s; null leaves it.
func setStr(r *sdk.JSONReader, s *string) {
	if !r.Null() {
		*s = r.Str()
	}
}

// setInt reads an integer into *n; null leaves it.
func setInt(r *sdk.JSONReader, n *int64) {
	if !r.Null() {
		*n = r.Int()
	}
}

// setIntPtr reads an integer into a new *int64; null sets *p to nil.
func setIntPtr(r *sdk.JSONReader, p **int64) {
	if r.Null() {
		*p = nil
		return
	}
	v := r.Int()
	*p = &v
}

// setBool reads true or false into *v; null leaves it.
func setBool(r *sdk.JSONReader, v *bool) {
	if !r.Null() {
		*v = r.Bool()
	}
}

// notNull skips a value and reports whether it was other than null.
func notNull(r *sdk.JSONReader) bool {
	if r.Null() {
		return false
	}
	r.Skip()
	return true
}
