package core

// The pod decoder: the fields of podtypes.go, read with reader.

// decodePod decodes a pod's name and the parts of its spec the rules read; spec is
// nil when the pod has none. raw is the spec's bytes, as they came.
func decodePod(b []byte) (name string, spec *podSpec, raw []byte, err error) {
	r := reader{b: b}
	r.object(func(k []byte) {
		switch string(k) {
		case "metadata":
			r.object(func(k []byte) {
				if string(k) == "name" {
					r.str(&name)
				} else {
					r.skip()
				}
			})
		case "spec":
			r.ws()
			start := r.i
			if r.null() {
				spec, raw = nil, nil
				return
			}
			spec = &podSpec{}
			r.podSpec(spec)
			raw = r.b[start:r.i]
		default:
			r.skip()
		}
	})
	if err := r.end(); err != nil {
		return "", nil, nil, err
	}
	return name, spec, raw, nil
}

func (r *reader) podSpec(s *podSpec) {
	r.object(func(k []byte) {
		switch string(k) {
		case "volumes":
			s.Volumes = nil // a repeated key replaces, as in encoding/json
			r.array(func(i int) {
				s.Volumes = append(s.Volumes, volume{})
				r.volume(&s.Volumes[i])
			})
		case "initContainers":
			s.InitContainers = nil // a repeated key replaces, as in encoding/json
			r.array(func(i int) {
				s.InitContainers = append(s.InitContainers, container{})
				r.container(&s.InitContainers[i])
			})
		case "containers":
			s.Containers = nil // a repeated key replaces, as in encoding/json
			r.array(func(i int) {
				s.Containers = append(s.Containers, container{})
				r.container(&s.Containers[i])
			})
		case "restartPolicy":
			r.str(&s.RestartPolicy)
		case "terminationGracePeriodSeconds":
			r.intPtr(&s.TerminationGracePeriodSeconds)
		case "activeDeadlineSeconds":
			r.intPtr(&s.ActiveDeadlineSeconds)
		case "dnsPolicy":
			r.str(&s.DNSPolicy)
		case "dnsConfig":
			s.DNSConfig = present(r.present())
		case "serviceAccountName":
			r.str(&s.ServiceAccountName)
		case "serviceAccount":
			r.str(&s.ServiceAccount)
		case "hostNetwork":
			r.boolean(&s.HostNetwork)
		case "securityContext":
			s.SecurityContext = present(r.present())
		case "schedulerName":
			r.str(&s.SchedulerName)
		case "tolerations":
			if r.null() {
				s.Tolerations = nil
				return
			}
			s.Tolerations = []toleration{}
			r.array(func(i int) {
				s.Tolerations = append(s.Tolerations, toleration{})
				r.toleration(&s.Tolerations[i])
			})
		case "priorityClassName":
			r.str(&s.PriorityClassName)
		case "priority":
			r.intPtr(&s.Priority)
		case "enableServiceLinks":
			if r.null() {
				s.EnableServiceLinks = nil
				return
			}
			var v bool
			r.boolean(&v)
			s.EnableServiceLinks = &v
		case "preemptionPolicy":
			r.str(&s.PreemptionPolicy)
		case "schedulingGates":
			s.SchedulingGates = nil // a repeated key replaces, as in encoding/json
			r.array(func(i int) {
				s.SchedulingGates = append(s.SchedulingGates, schedulingGate{})
				r.object(func(k []byte) {
					if string(k) == "name" {
						r.str(&s.SchedulingGates[i].Name)
					} else {
						r.skip()
					}
				})
			})
		default:
			r.skip()
		}
	})
}

func (r *reader) container(c *container) {
	r.object(func(k []byte) {
		switch string(k) {
		case "name":
			r.str(&c.Name)
		case "image":
			r.str(&c.Image)
		case "imagePullPolicy":
			r.str(&c.ImagePullPolicy)
		case "ports":
			c.Ports = nil // a repeated key replaces, as in encoding/json
			r.array(func(i int) {
				c.Ports = append(c.Ports, containerPort{})
				p := &c.Ports[i]
				r.object(func(k []byte) {
					switch string(k) {
					case "name":
						r.str(&p.Name)
					case "hostPort":
						r.int(&p.HostPort)
					case "containerPort":
						r.int(&p.ContainerPort)
					case "protocol":
						r.str(&p.Protocol)
					case "hostIP":
						r.str(&p.HostIP)
					default:
						r.skip()
					}
				})
			})
		case "env":
			c.Env = nil // a repeated key replaces, as in encoding/json
			r.array(func(i int) {
				c.Env = append(c.Env, envVar{})
				r.envVar(&c.Env[i])
			})
		case "resources":
			r.object(func(k []byte) {
				switch string(k) {
				case "limits":
					c.Resources.Limits = r.rawList()
				case "requests":
					c.Resources.Requests = r.rawList()
				default:
					r.skip()
				}
			})
		case "volumeMounts":
			c.VolumeMounts = nil // a repeated key replaces, as in encoding/json
			r.array(func(i int) {
				c.VolumeMounts = append(c.VolumeMounts, volumeMount{})
				m := &c.VolumeMounts[i]
				r.object(func(k []byte) {
					switch string(k) {
					case "name":
						r.str(&m.Name)
					case "mountPath":
						r.str(&m.MountPath)
					default:
						r.skip()
					}
				})
			})
		case "livenessProbe":
			c.LivenessProbe = r.probe()
		case "readinessProbe":
			c.ReadinessProbe = r.probe()
		case "startupProbe":
			c.StartupProbe = r.probe()
		case "lifecycle":
			if r.null() {
				c.Lifecycle = nil
				return
			}
			c.Lifecycle = &lifecycle{}
			r.object(func(k []byte) {
				switch string(k) {
				case "postStart":
					c.Lifecycle.PostStart = r.handler()
				case "preStop":
					c.Lifecycle.PreStop = r.handler()
				default:
					r.skip()
				}
			})
		case "terminationMessagePath":
			r.str(&c.TerminationMessagePath)
		case "terminationMessagePolicy":
			r.str(&c.TerminationMessagePolicy)
		case "restartPolicy":
			if r.null() {
				c.RestartPolicy = nil
				return
			}
			var v string
			r.str(&v)
			c.RestartPolicy = &v
		default:
			r.skip()
		}
	})
}

// rawList reads an object of values kept raw; null is nil, {} empty. A repeated key
// replaces the earlier value.
func (r *reader) rawList() rawList {
	if r.null() {
		return nil
	}
	l := rawList{}
	r.object(func(k []byte) {
		v := r.raw()
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

func (r *reader) envVar(e *envVar) {
	r.object(func(k []byte) {
		switch string(k) {
		case "name":
			r.str(&e.Name)
		case "value":
			r.str(&e.Value)
		case "valueFrom":
			if r.null() {
				e.ValueFrom = nil
				return
			}
			vf := &envSource{}
			e.ValueFrom = vf
			r.object(func(k []byte) {
				switch string(k) {
				case "fieldRef":
					if r.null() {
						vf.FieldRef = nil
						return
					}
					vf.FieldRef = &fieldRef{}
					r.object(func(k []byte) {
						if string(k) == "apiVersion" {
							r.str(&vf.FieldRef.APIVersion)
						} else {
							r.skip()
						}
					})
				case "resourceFieldRef":
					vf.ResourceFieldRef = present(r.present())
				case "configMapKeyRef":
					vf.ConfigMapKeyRef = present(r.present())
				case "secretKeyRef":
					vf.SecretKeyRef = present(r.present())
				case "fileKeyRef":
					vf.FileKeyRef = present(r.present())
				default:
					r.skip()
				}
			})
		default:
			r.skip()
		}
	})
}

// handlerMember reads one member of a probe or lifecycle handler; false if k is not one.
func (r *reader) handlerMember(h *handler, k []byte) bool {
	switch string(k) {
	case "exec":
		h.Exec = present(r.present())
	case "httpGet":
		if r.null() {
			h.HTTPGet = nil
			return true
		}
		h.HTTPGet = &httpGet{}
		r.object(func(k []byte) {
			switch string(k) {
			case "path":
				r.str(&h.HTTPGet.Path)
			case "scheme":
				r.str(&h.HTTPGet.Scheme)
			default:
				r.skip()
			}
		})
	case "tcpSocket":
		h.TCPSocket = present(r.present())
	case "grpc":
		h.GRPC = present(r.present())
	case "sleep":
		h.Sleep = present(r.present())
	default:
		return false
	}
	return true
}

func (r *reader) handler() *handler {
	if r.null() {
		return nil
	}
	h := &handler{}
	r.object(func(k []byte) {
		if !r.handlerMember(h, k) {
			r.skip()
		}
	})
	return h
}

func (r *reader) probe() *probe {
	if r.null() {
		return nil
	}
	p := &probe{}
	r.object(func(k []byte) {
		if r.handlerMember(&p.handler, k) {
			return
		}
		switch string(k) {
		case "initialDelaySeconds":
			r.int(&p.InitialDelaySeconds)
		case "timeoutSeconds":
			r.int(&p.TimeoutSeconds)
		case "periodSeconds":
			r.int(&p.PeriodSeconds)
		case "successThreshold":
			r.int(&p.SuccessThreshold)
		case "failureThreshold":
			r.int(&p.FailureThreshold)
		case "terminationGracePeriodSeconds":
			r.intPtr(&p.TerminationGracePeriodSeconds)
		default:
			r.skip()
		}
	})
	return p
}

func (r *reader) toleration(t *toleration) {
	r.object(func(k []byte) {
		switch string(k) {
		case "key":
			r.str(&t.Key)
		case "operator":
			r.str(&t.Operator)
		case "value":
			r.str(&t.Value)
		case "effect":
			r.str(&t.Effect)
		case "tolerationSeconds":
			r.intPtr(&t.TolerationSeconds)
		default:
			r.skip()
		}
	})
}

// modeSrc reads a source with a defaultMode; null is nil.
func (r *reader) modeSrc() *modeSrc {
	if r.null() {
		return nil
	}
	m := &modeSrc{}
	r.object(func(k []byte) {
		if string(k) == "defaultMode" {
			r.intPtr(&m.DefaultMode)
		} else {
			r.skip()
		}
	})
	return m
}

func (r *reader) volume(v *volume) {
	r.object(func(k []byte) {
		switch string(k) {
		case "name":
			r.str(&v.Name)
		case "hostPath":
			if r.null() {
				v.HostPath = nil
				return
			}
			v.HostPath = &hostPathSrc{}
			r.object(func(k []byte) {
				if string(k) == "type" {
					if r.null() {
						v.HostPath.Type = nil
						return
					}
					var t string
					r.str(&t)
					v.HostPath.Type = &t
				} else {
					r.skip()
				}
			})
		case "secret":
			v.Secret = r.modeSrc()
		case "configMap":
			v.ConfigMap = r.modeSrc()
		case "downwardAPI":
			v.DownwardAPI = r.modeSrc()
		case "projected":
			v.Projected = r.modeSrc()
		case "emptyDir":
			v.EmptyDir = present(r.present())
		case "gcePersistentDisk":
			v.GCEPersistentDisk = present(r.present())
		case "awsElasticBlockStore":
			v.AWSElasticBlockStore = present(r.present())
		case "gitRepo":
			v.GitRepo = present(r.present())
		case "nfs":
			v.NFS = present(r.present())
		case "iscsi":
			v.ISCSI = present(r.present())
		case "glusterfs":
			v.Glusterfs = present(r.present())
		case "persistentVolumeClaim":
			v.PersistentVolumeClaim = present(r.present())
		case "rbd":
			v.RBD = present(r.present())
		case "flexVolume":
			v.FlexVolume = present(r.present())
		case "cinder":
			v.Cinder = present(r.present())
		case "cephfs":
			v.CephFS = present(r.present())
		case "flocker":
			v.Flocker = present(r.present())
		case "fc":
			v.FC = present(r.present())
		case "azureFile":
			v.AzureFile = present(r.present())
		case "vsphereVolume":
			v.VsphereVolume = present(r.present())
		case "quobyte":
			v.Quobyte = present(r.present())
		case "azureDisk":
			v.AzureDisk = present(r.present())
		case "photonPersistentDisk":
			v.PhotonPersistentDisk = present(r.present())
		case "portworxVolume":
			v.PortworxVolume = present(r.present())
		case "scaleIO":
			v.ScaleIO = present(r.present())
		case "storageos":
			v.StorageOS = present(r.present())
		case "csi":
			v.CSI = present(r.present())
		case "ephemeral":
			v.Ephemeral = present(r.present())
		case "image":
			v.Image = present(r.present())
		default:
			r.skip()
		}
	})
}
