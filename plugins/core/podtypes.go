package core

import (
	"encoding/json"
)

// The parts of a Pod the rules read. Everything else is skipped by the decoder, which
// is what keeps admission cheap inside the guest.

type podObject struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec *podSpec `json:"spec"`
}

// podSpecRaw is the spec undecoded, for comparing specs on update.
type podSpecRaw struct {
	Spec json.RawMessage `json:"spec"`
}

type podSpec struct {
	Volumes                       []volume         `json:"volumes"`
	InitContainers                []container      `json:"initContainers"`
	Containers                    []container      `json:"containers"`
	RestartPolicy                 string           `json:"restartPolicy"`
	TerminationGracePeriodSeconds *int64           `json:"terminationGracePeriodSeconds"`
	ActiveDeadlineSeconds         *int64           `json:"activeDeadlineSeconds"`
	DNSPolicy                     string           `json:"dnsPolicy"`
	DNSConfig                     present          `json:"dnsConfig"`
	ServiceAccountName            string           `json:"serviceAccountName"`
	ServiceAccount                string           `json:"serviceAccount"`
	HostNetwork                   bool             `json:"hostNetwork"`
	SecurityContext               present          `json:"securityContext"`
	SchedulerName                 string           `json:"schedulerName"`
	Tolerations                   []toleration     `json:"tolerations"`
	PriorityClassName             string           `json:"priorityClassName"`
	Priority                      *int64           `json:"priority"`
	EnableServiceLinks            *bool            `json:"enableServiceLinks"`
	PreemptionPolicy              string           `json:"preemptionPolicy"`
	SchedulingGates               []schedulingGate `json:"schedulingGates"`
}

type schedulingGate struct {
	Name string `json:"name"`
}

type container struct {
	Name                     string          `json:"name"`
	Image                    string          `json:"image"`
	ImagePullPolicy          string          `json:"imagePullPolicy"`
	Ports                    []containerPort `json:"ports"`
	Env                      []envVar        `json:"env"`
	Resources                resources       `json:"resources"`
	VolumeMounts             []volumeMount   `json:"volumeMounts"`
	LivenessProbe            *probe          `json:"livenessProbe"`
	ReadinessProbe           *probe          `json:"readinessProbe"`
	StartupProbe             *probe          `json:"startupProbe"`
	Lifecycle                *lifecycle      `json:"lifecycle"`
	TerminationMessagePath   string          `json:"terminationMessagePath"`
	TerminationMessagePolicy string          `json:"terminationMessagePolicy"`
	RestartPolicy            *string         `json:"restartPolicy"`
}

type containerPort struct {
	Name          string `json:"name"`
	HostPort      int64  `json:"hostPort"`
	ContainerPort int64  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP"`
}

type envVar struct {
	Name      string     `json:"name"`
	Value     string     `json:"value"`
	ValueFrom *envSource `json:"valueFrom"`
}

type envSource struct {
	FieldRef *struct {
		APIVersion string `json:"apiVersion"`
	} `json:"fieldRef"`
	ResourceFieldRef present `json:"resourceFieldRef"`
	ConfigMapKeyRef  present `json:"configMapKeyRef"`
	SecretKeyRef     present `json:"secretKeyRef"`
	FileKeyRef       present `json:"fileKeyRef"`
}

// resources keep quantities raw: a patch copies them as they are.
type resources struct {
	Limits   map[string]json.RawMessage `json:"limits"`
	Requests map[string]json.RawMessage `json:"requests"`
}

type volumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
}

type handler struct {
	Exec      present  `json:"exec"`
	HTTPGet   *httpGet `json:"httpGet"`
	TCPSocket present  `json:"tcpSocket"`
	GRPC      present  `json:"grpc"`
	Sleep     present  `json:"sleep"`
}

type httpGet struct {
	Path   string `json:"path"`
	Scheme string `json:"scheme"`
}

type probe struct {
	handler
	InitialDelaySeconds           int64  `json:"initialDelaySeconds"`
	TimeoutSeconds                int64  `json:"timeoutSeconds"`
	PeriodSeconds                 int64  `json:"periodSeconds"`
	SuccessThreshold              int64  `json:"successThreshold"`
	FailureThreshold              int64  `json:"failureThreshold"`
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds"`
}

type lifecycle struct {
	PostStart *handler `json:"postStart"`
	PreStop   *handler `json:"preStop"`
}

type toleration struct {
	Key               string `json:"key"`
	Operator          string `json:"operator"`
	Value             string `json:"value"`
	Effect            string `json:"effect"`
	TolerationSeconds *int64 `json:"tolerationSeconds"`
}

// volume holds a volume's name, which sources it sets, and what defaulting reads.
type volume struct {
	Name                  string       `json:"name"`
	HostPath              *hostPathSrc `json:"hostPath"`
	EmptyDir              present      `json:"emptyDir"`
	GCEPersistentDisk     present      `json:"gcePersistentDisk"`
	AWSElasticBlockStore  present      `json:"awsElasticBlockStore"`
	GitRepo               present      `json:"gitRepo"`
	Secret                *modeSrc     `json:"secret"`
	NFS                   present      `json:"nfs"`
	ISCSI                 present      `json:"iscsi"`
	Glusterfs             present      `json:"glusterfs"`
	PersistentVolumeClaim present      `json:"persistentVolumeClaim"`
	RBD                   present      `json:"rbd"`
	FlexVolume            present      `json:"flexVolume"`
	Cinder                present      `json:"cinder"`
	CephFS                present      `json:"cephfs"`
	Flocker               present      `json:"flocker"`
	DownwardAPI           *modeSrc     `json:"downwardAPI"`
	FC                    present      `json:"fc"`
	AzureFile             present      `json:"azureFile"`
	ConfigMap             *modeSrc     `json:"configMap"`
	VsphereVolume         present      `json:"vsphereVolume"`
	Quobyte               present      `json:"quobyte"`
	AzureDisk             present      `json:"azureDisk"`
	PhotonPersistentDisk  present      `json:"photonPersistentDisk"`
	PortworxVolume        present      `json:"portworxVolume"`
	ScaleIO               present      `json:"scaleIO"`
	Projected             *modeSrc     `json:"projected"`
	StorageOS             present      `json:"storageos"`
	CSI                   present      `json:"csi"`
	Ephemeral             present      `json:"ephemeral"`
	Image                 present      `json:"image"`
}

type hostPathSrc struct {
	Type *string `json:"type"`
}

type modeSrc struct {
	DefaultMode *int64 `json:"defaultMode"`
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

func (p *present) UnmarshalJSON(b []byte) error {
	*p = string(b) != "null"
	return nil
}
