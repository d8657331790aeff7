package core

// The parts of a Pod the rules read. Everything else is skipped by the decoder, which
// is what keeps admission cheap inside the guest.

type podSpec struct {
	Volumes                       []volume
	InitContainers                []container
	Containers                    []container
	RestartPolicy                 string
	TerminationGracePeriodSeconds *int64
	ActiveDeadlineSeconds         *int64
	DNSPolicy                     string
	DNSConfig                     present
	ServiceAccountName            string
	ServiceAccount                string
	HostNetwork                   bool
	SecurityContext               present
	SchedulerName                 string
	Tolerations                   []toleration
	PriorityClassName             string
	Priority                      *int64
	EnableServiceLinks            *bool
	PreemptionPolicy              string
	SchedulingGates               []schedulingGate
}

type schedulingGate struct {
	Name string
}

type container struct {
	Name                     string
	Image                    string
	ImagePullPolicy          string
	Ports                    []containerPort
	Env                      []envVar
	Resources                resources
	VolumeMounts             []volumeMount
	LivenessProbe            *probe
	ReadinessProbe           *probe
	StartupProbe             *probe
	Lifecycle                *lifecycle
	TerminationMessagePath   string
	TerminationMessagePolicy string
	RestartPolicy            *string
}

type containerPort struct {
	Name          string
	HostPort      int64
	ContainerPort int64
	Protocol      string
	HostIP        string
}

type envVar struct {
	Name      string
	Value     string
	ValueFrom *envSource
}

type envSource struct {
	FieldRef         *fieldRef
	ResourceFieldRef present
	ConfigMapKeyRef  present
	SecretKeyRef     present
	FileKeyRef       present
}

type fieldRef struct {
	APIVersion string
}

// resources keep quantities raw, in document order: a patch copies them as they are.
// A nil list is an absent (or null) member.
type resources struct {
	Limits   rawList
	Requests rawList
}

type rawEntry struct {
	name string
	raw  []byte
}

type rawList []rawEntry

func (l rawList) get(name string) ([]byte, bool) {
	for i := range l {
		if l[i].name == name {
			return l[i].raw, true
		}
	}
	return nil, false
}

type volumeMount struct {
	Name      string
	MountPath string
}

type handler struct {
	Exec      present
	HTTPGet   *httpGet
	TCPSocket present
	GRPC      present
	Sleep     present
}

type httpGet struct {
	Path   string
	Scheme string
}

type probe struct {
	handler
	InitialDelaySeconds           int64
	TimeoutSeconds                int64
	PeriodSeconds                 int64
	SuccessThreshold              int64
	FailureThreshold              int64
	TerminationGracePeriodSeconds *int64
}

type lifecycle struct {
	PostStart *handler
	PreStop   *handler
}

type toleration struct {
	Key               string
	Operator          string
	Value             string
	Effect            string
	TolerationSeconds *int64
}

// volume holds a volume's name, which sources it sets, and what defaulting reads.
type volume struct {
	Name                  string
	HostPath              *hostPathSrc
	EmptyDir              present
	GCEPersistentDisk     present
	AWSElasticBlockStore  present
	GitRepo               present
	Secret                *modeSrc
	NFS                   present
	ISCSI                 present
	Glusterfs             present
	PersistentVolumeClaim present
	RBD                   present
	FlexVolume            present
	Cinder                present
	CephFS                present
	Flocker               present
	DownwardAPI           *modeSrc
	FC                    present
	AzureFile             present
	ConfigMap             *modeSrc
	VsphereVolume         present
	Quobyte               present
	AzureDisk             present
	PhotonPersistentDisk  present
	PortworxVolume        present
	ScaleIO               present
	Projected             *modeSrc
	StorageOS             present
	CSI                   present
	Ephemeral             present
	Image                 present
}

type hostPathSrc struct {
	Type *string
}

type modeSrc struct {
	DefaultMode *int64
}

// sourceList lists the volume sources set, in the order of Kubernetes'
// validateVolumeSource, each under the name its error path uses (with that code's
// "cephFS" and "downwarAPI").
func (v *volume) sourceList() [30]struct {
	name string
	set  bool
} {
	return [...]struct {
		name string
		set  bool
	}{
		{"emptyDir", bool(v.EmptyDir)}, {"hostPath", v.HostPath != nil}, {"gitRepo", bool(v.GitRepo)},
		{"gcePersistentDisk", bool(v.GCEPersistentDisk)}, {"awsElasticBlockStore", bool(v.AWSElasticBlockStore)},
		{"secret", v.Secret != nil}, {"nfs", bool(v.NFS)}, {"iscsi", bool(v.ISCSI)}, {"glusterfs", bool(v.Glusterfs)},
		{"flocker", bool(v.Flocker)}, {"persistentVolumeClaim", bool(v.PersistentVolumeClaim)}, {"rbd", bool(v.RBD)},
		{"cinder", bool(v.Cinder)}, {"cephFS", bool(v.CephFS)}, {"quobyte", bool(v.Quobyte)},
		{"downwarAPI", v.DownwardAPI != nil}, {"fc", bool(v.FC)}, {"flexVolume", bool(v.FlexVolume)},
		{"configMap", v.ConfigMap != nil}, {"azureFile", bool(v.AzureFile)}, {"vsphereVolume", bool(v.VsphereVolume)},
		{"photonPersistentDisk", bool(v.PhotonPersistentDisk)}, {"portworxVolume", bool(v.PortworxVolume)},
		{"azureDisk", bool(v.AzureDisk)}, {"storageos", bool(v.StorageOS)}, {"projected", v.Projected != nil},
		{"scaleIO", bool(v.ScaleIO)}, {"csi", bool(v.CSI)}, {"ephemeral", bool(v.Ephemeral)}, {"image", bool(v.Image)},
	}
}

// sources returns the first volume source set (as sourceList names it) and how many
// are set.
func (v *volume) sources() (first string, n int) {
	for _, s := range v.sourceList() {
		if s.set {
			if n == 0 {
				first = s.name
			}
			n++
		}
	}
	return first, n
}

// present records whether a member is set (and not null), without decoding it.
type present bool
