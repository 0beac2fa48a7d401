// Copyright The otelcol-lambda Authors
// SPDX-License-Identifier: Apache-2.0

// Package kubernetes_test renders the kustomization in this directory and checks it against
// the configuration the pods run: distribution/config.yaml and the overlays of
// distribution/overlays (both baked into the image), any overlay from a ConfigMap, and the
// environment the Deployment sets.
package kubernetes_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-lambda/otelcol-lambda/internal/wire"
)

// Where the image bakes distribution/config.yaml and distribution/overlays/
// (distribution/Dockerfile).
const (
	bakedConfigPath   = "/etc/otelcol-lambda/config.yaml"
	bakedOverlaysPath = "/etc/otelcol-lambda/overlays/"
)

// The image's user (distribution/Dockerfile).
const imageUID = 10001

// After the drain and a retry asleep at the deadline, the conversion of the last flushes
// still runs before the gateway exits (README, "Stopping": drain plus about 10 s in all).
const conversionAllowance = 5 * time.Second

// The HPA's own default; a shorter window would move sandboxes at every dip of the load.
const minScaleDownWindowSeconds = 300

// kustomizationEnv names a kustomization for TestKustomization to check instead of this
// directory: a user's own overlay (docs/deploy.md), so that what holds for the base is
// checked for what the user deploys. A relative path is from the repository's root.
const kustomizationEnv = "OTELCOL_LAMBDA_KUSTOMIZATION"

// kustomizationDir is the directory TestKustomization renders: $OTELCOL_LAMBDA_KUSTOMIZATION,
// else this one.
func kustomizationDir(root string) string {
	dir := os.Getenv(kustomizationEnv)
	switch {
	case dir == "":
		return "."
	case filepath.IsAbs(dir):
		return dir
	}
	return filepath.Join(root, dir)
}

// TestKustomization checks this directory's kustomization, or the one that
// $OTELCOL_LAMBDA_KUSTOMIZATION names (kustomizationEnv).
func TestKustomization(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	dir := kustomizationDir(root)
	t.Logf("rendering %s", dir)
	m := parseManifests(t, render(t, root, dir))
	gw := loadGateway(t, root, m)

	t.Run("ports are the endpoints the config listens on", func(t *testing.T) {
		want := map[int32]string{}
		for _, e := range gw.endpoints() {
			host, port := e.hostPort(t)
			assert.False(t, isLoopback(host), "%s listens on loopback (%s): probes and Services reach the pod's address", e.name, host)
			want[port] = e.name
			_, ok := gw.container.portNumber(strconv.Itoa(int(port)))
			assert.True(t, ok, "%s listens on %d, which is no container port", e.name, port)
		}
		for _, p := range gw.container.Ports {
			assert.Contains(t, want, p.ContainerPort, "container port %s (%d) is no endpoint of the config", p.Name, p.ContainerPort)
		}
	})

	t.Run("services reach container ports of the pods", func(t *testing.T) {
		require.NotEmpty(t, m.services)
		for _, svc := range m.services {
			assert.Subset(t, gw.podLabels, svc.Spec.Selector, "service %s selects no gateway pod", svc.Metadata.Name)
			for _, p := range svc.Spec.Ports {
				_, ok := gw.container.portNumber(p.TargetPort)
				assert.True(t, ok, "service %s port %s targets %q, no container port", svc.Metadata.Name, p.Name, p.TargetPort)
			}
		}
		headless, ok := m.service("otelcol-lambda-headless")
		require.True(t, ok, "no headless service")
		assert.Equal(t, "None", headless.Spec.ClusterIP)
	})

	t.Run("probes hit health_check", func(t *testing.T) {
		healthPort := gw.endpoint("health_check").port(t)
		path := gw.str(t, "extensions", "health_check", "path")
		if path == "" {
			path = "/" // health_check's default
		}
		c := gw.container
		for name, p := range map[string]*probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			require.NotNil(t, p, "no %s probe", name)
			require.NotNil(t, p.HTTPGet, "%s probe is not an HTTP GET", name)
			port, ok := c.portNumber(p.HTTPGet.Port)
			assert.True(t, ok && port == healthPort, "%s probe hits port %q, health_check listens on %d", name, p.HTTPGet.Port, healthPort)
			assert.Equal(t, path, p.HTTPGet.Path, "%s probe path", name)
		}
	})

	t.Run("memory limit, memory_limiter and GOMEMLIMIT agree", func(t *testing.T) {
		limit := quantityBytes(t, gw.container.Resources.Limits["memory"])
		assert.Equal(t, limit, quantityBytes(t, gw.container.Resources.Requests["memory"]),
			"memory request differs from the limit that memory_limiter's percentages are of")
		limitPct := gw.number(t, "processors", "memory_limiter", "limit_percentage")
		spikePct := gw.number(t, "processors", "memory_limiter", "spike_limit_percentage")
		hard := limit * limitPct / 100
		soft := hard - limit*spikePct/100
		goMemLimit := goMemLimitBytes(t, gw.literal(t, "GOMEMLIMIT"))
		// Above the soft limit, the GC does not work harder while the limiter still lets
		// data in; at most the hard limit, it does before the limiter forces a GC.
		assert.Greater(t, goMemLimit, soft, "GOMEMLIMIT at or below memory_limiter's soft limit (%d bytes)", soft)
		assert.LessOrEqual(t, goMemLimit, hard, "GOMEMLIMIT above memory_limiter's hard limit (%d bytes)", hard)
	})

	t.Run("token comes from a secret and the auth overlay is loaded", func(t *testing.T) {
		authenticator := "bearertokenauth"
		assert.Equal(t, authenticator, gw.str(t, "receivers", "lambda_telemetry", "http", "auth", "authenticator"))
		assert.Equal(t, authenticator, gw.str(t, "receivers", "otlp", "protocols", "grpc", "auth", "authenticator"))
		assert.Contains(t, gw.list(t, "service", "extensions"), authenticator)
		tokenVar := envReference(t, gw.raw(t, "extensions", authenticator, "token"))
		ref := gw.env[tokenVar].from.SecretKeyRef
		require.NotNil(t, ref, "%s does not come from a Secret", tokenVar)
		assert.NotEmpty(t, ref.Name)
		assert.NotEmpty(t, ref.Key)
		assert.False(t, ref.Optional != nil && *ref.Optional, "an optional token Secret starts the gateway with an empty token")
		assert.Empty(t, m.byKind["Secret"], "a Secret in the kustomization puts a token in the repository")
	})

	t.Run("pod loads the image's auth-bearer.yaml and replica-id.yaml", func(t *testing.T) {
		assert.Subset(t, gw.overlayPaths, []string{
			bakedOverlaysPath + "auth-bearer.yaml",
			bakedOverlaysPath + "replica-id.yaml",
		})
	})

	t.Run("replica id is the pod name", func(t *testing.T) {
		idVar := envReference(t, gw.resourceAttribute(t, "service.instance.id"))
		ref := gw.env[idVar].from.FieldRef
		require.NotNil(t, ref, "%s is not from the downward API", idVar)
		assert.Equal(t, "metadata.name", ref.FieldPath)
	})

	t.Run("storage is a writable volume", func(t *testing.T) {
		dir := gw.str(t, "extensions", "file_storage", "directory")
		mount, ok := gw.container.mountOf(dir)
		require.True(t, ok, "storage directory %s is on no volume (the root filesystem is read-only)", dir)
		assert.False(t, mount.ReadOnly, "storage volume %s is mounted read-only", mount.Name)
		v, ok := gw.volume(mount.Name)
		require.True(t, ok, "no volume %s", mount.Name)
		assert.True(t, v.EmptyDir != nil || v.PersistentVolumeClaim != nil, "storage volume %s is neither emptyDir nor a claim", mount.Name)
	})

	t.Run("pod runs as the image's non-root user, read-only, without capabilities", func(t *testing.T) {
		pod, c := gw.pod.SecurityContext, gw.container.SecurityContext
		assert.True(t, pod.RunAsNonRoot != nil && *pod.RunAsNonRoot, "runAsNonRoot")
		assert.Equal(t, imageUID, pod.RunAsUser)
		assert.True(t, c.ReadOnlyRootFilesystem != nil && *c.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
		assert.True(t, c.AllowPrivilegeEscalation != nil && !*c.AllowPrivilegeEscalation, "allowPrivilegeEscalation")
		assert.Equal(t, []string{"ALL"}, c.Capabilities.Drop)
	})

	t.Run("grace period covers the drain", func(t *testing.T) {
		drain := gw.duration(t, "extensions", "export_watch", "drain_timeout")
		retrySleep := gw.duration(t, "exporters", "prometheus_remote_write", "retry_on_failure", "max_interval")
		require.NotNil(t, gw.pod.TerminationGracePeriodSeconds, "terminationGracePeriodSeconds unset")
		grace := time.Duration(*gw.pod.TerminationGracePeriodSeconds) * time.Second
		assert.GreaterOrEqual(t, grace, drain+retrySleep+conversionAllowance,
			"SIGKILL at %v cuts the drain (%v) + a retry asleep (%v) + the last conversion (%v)", grace, drain, retrySleep, conversionAllowance)
	})

	t.Run("autoscaler scales the deployment on CPU, slowly down", func(t *testing.T) {
		require.Len(t, m.hpas, 1)
		hpa := m.hpas[0].Spec
		assert.Equal(t, "apps/v1", hpa.ScaleTargetRef.APIVersion)
		assert.Equal(t, "Deployment", hpa.ScaleTargetRef.Kind)
		assert.Equal(t, gw.deployment.Metadata.Name, hpa.ScaleTargetRef.Name)
		assert.Nil(t, gw.deployment.Spec.Replicas, "replicas in the Deployment fight the HPA at every apply")
		assert.GreaterOrEqual(t, hpa.MinReplicas, 2, "one replica is a single point of failure")
		require.Len(t, hpa.Metrics, 1)
		assert.Equal(t, "cpu", hpa.Metrics[0].Resource.Name)
		assert.NotEmpty(t, gw.container.Resources.Requests["cpu"], "CPU utilization is relative to a CPU request")
		require.NotNil(t, hpa.Behavior.ScaleDown.StabilizationWindowSeconds)
		assert.GreaterOrEqual(t, *hpa.Behavior.ScaleDown.StabilizationWindowSeconds, minScaleDownWindowSeconds)
	})

	t.Run("disruption budget and spread select the pods", func(t *testing.T) {
		require.Len(t, m.pdbs, 1)
		pdb := m.pdbs[0].Spec
		assert.Equal(t, gw.deployment.Spec.Selector.MatchLabels, pdb.Selector.MatchLabels)
		assert.Equal(t, "1", pdb.MaxUnavailable)
		require.NotEmpty(t, gw.pod.TopologySpreadConstraints)
		for _, c := range gw.pod.TopologySpreadConstraints {
			assert.Subset(t, gw.podLabels, c.LabelSelector.MatchLabels, "spread over %s counts no gateway pod", c.TopologyKey)
		}
	})

	t.Run("ingress hashes on the sandbox and takes whole batches", func(t *testing.T) {
		require.Len(t, m.ingresses, 1)
		ing := m.ingresses[0]
		header := strings.ReplaceAll(strings.ToLower(wire.HeaderExtensionInstanceID), "-", "_")
		assert.Equal(t, "$http_"+header, ing.Metadata.Annotations["nginx.ingress.kubernetes.io/upstream-hash-by"])
		bodyLimit := nginxSizeBytes(t, ing.Metadata.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"])
		assert.GreaterOrEqual(t, bodyLimit, gw.number(t, "receivers", "lambda_telemetry", "http", "max_request_body_size"),
			"nginx refuses bodies the gateway accepts")
		httpPort := gw.endpoint("lambda_telemetry").port(t)
		for _, rule := range ing.Spec.Rules {
			for _, path := range rule.HTTP.Paths {
				backend := path.Backend.Service
				svc, ok := m.service(backend.Name)
				require.True(t, ok, "ingress backend %s is no service", backend.Name)
				port, ok := svc.port(backend.Port.Name, backend.Port.Number)
				require.True(t, ok, "service %s has no port %s%d", backend.Name, backend.Port.Name, backend.Port.Number)
				target, _ := gw.container.portNumber(port.TargetPort)
				assert.Equal(t, httpPort, target, "ingress reaches port %d, lambda_telemetry listens on %d", target, httpPort)
			}
		}
	})

	t.Run("image is the distribution's version", func(t *testing.T) {
		manifest := readYAML(t, filepath.Join(root, "builder-config.yaml"))
		version := fmt.Sprint(lookup(manifest, "dist", "version"))
		// An overlay may push it to a registry of its own (images: newName).
		repository, tag, _ := strings.Cut(path.Base(gw.container.Image), ":")
		assert.Equal(t, "otelcol-lambda", repository, "image %s", gw.container.Image)
		assert.Equal(t, version, tag, "image %s", gw.container.Image)
	})

	t.Run("the gateway accepts the configuration the pod loads", func(t *testing.T) {
		gw.validate(t, root)
	})

	t.Run("prometheus snippet scrapes the telemetry port", func(t *testing.T) {
		var cfg struct {
			ScrapeConfigs []struct {
				JobName             string `yaml:"job_name"`
				KubernetesSDConfigs []struct {
					Namespaces struct{ Names []string } `yaml:"namespaces"`
				} `yaml:"kubernetes_sd_configs"`
				RelabelConfigs []struct {
					SourceLabels []string `yaml:"source_labels"`
					Regex        string   `yaml:"regex"`
					Action       string   `yaml:"action"`
				} `yaml:"relabel_configs"`
			} `yaml:"scrape_configs"`
		}
		// A user's overlay may carry its own snippet; else it uses this one.
		snippet := filepath.Join(dir, "prometheus.yml")
		if !fileExists(snippet) {
			snippet = "prometheus.yml"
		}
		decodeFile(t, snippet, &cfg)
		require.Len(t, cfg.ScrapeConfigs, 1)
		job := cfg.ScrapeConfigs[0]
		// The job the shipped alerts select, as make run's Prometheus names it.
		assert.Contains(t, readFile(t, filepath.Join(root, "distribution", "prometheus", "prometheus.yml")), "job_name: "+job.JobName)
		require.Len(t, job.KubernetesSDConfigs, 1)
		assert.Equal(t, []string{gw.deployment.Metadata.Namespace}, job.KubernetesSDConfigs[0].Namespaces.Names)
		telemetryPort := gw.endpoint("telemetry").port(t)
		var kept []int32
		for _, r := range job.RelabelConfigs {
			if r.Action != "keep" || !slices.Equal(r.SourceLabels, []string{"__meta_kubernetes_pod_container_port_name"}) {
				continue
			}
			re := regexp.MustCompile("^(?:" + r.Regex + ")$") // Prometheus anchors relabel regexes
			for _, p := range gw.container.Ports {
				if re.MatchString(p.Name) {
					kept = append(kept, p.ContainerPort)
				}
			}
		}
		assert.Equal(t, []int32{telemetryPort}, kept, "the scrape keeps other ports than telemetry (%d)", telemetryPort)
	})
}

// render builds the kustomization in dir with $KUSTOMIZE, else the pinned ./bin/kustomize
// (make kustomize), else kubectl's built-in one.
func render(t *testing.T, root, dir string) []byte {
	t.Helper()
	var cmd *exec.Cmd
	pinned := filepath.Join(root, "bin", "kustomize")
	switch kubectl, kubectlErr := exec.LookPath("kubectl"); {
	case os.Getenv("KUSTOMIZE") != "":
		cmd = exec.Command(os.Getenv("KUSTOMIZE"), "build", ".")
	case fileExists(pinned):
		cmd = exec.Command(pinned, "build", ".")
	case kubectlErr == nil:
		cmd = exec.Command(kubectl, "kustomize", ".")
	case os.Getenv("CI") == "true":
		t.Fatal("no kustomize: run make kustomize, or set KUSTOMIZE")
	default:
		t.Skip("no kustomize: run make kustomize, or set KUSTOMIZE")
	}
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s: %s", cmd, stderr.String())
	return out
}

type meta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type deployment struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		Replicas *int          `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Template struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    int   `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	TopologySpreadConstraints []struct {
		TopologyKey   string        `yaml:"topologyKey"`
		LabelSelector labelSelector `yaml:"labelSelector"`
	} `yaml:"topologySpreadConstraints"`
	Containers []container `yaml:"containers"`
	Volumes    []volume    `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int32  `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name      string     `yaml:"name"`
		Value     *string    `yaml:"value"`
		ValueFrom *valueFrom `yaml:"valueFrom"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	StartupProbe    *probe `yaml:"startupProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []volumeMount `yaml:"volumeMounts"`
}

type valueFrom struct {
	FieldRef *struct {
		FieldPath string `yaml:"fieldPath"`
	} `yaml:"fieldRef"`
	SecretKeyRef *struct {
		Name     string `yaml:"name"`
		Key      string `yaml:"key"`
		Optional *bool  `yaml:"optional"`
	} `yaml:"secretKeyRef"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"` // a name or a number
	} `yaml:"httpGet"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
	EmptyDir              *struct{} `yaml:"emptyDir"`
	PersistentVolumeClaim *struct{} `yaml:"persistentVolumeClaim"`
}

type service struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		ClusterIP string            `yaml:"clusterIP"`
		Selector  map[string]string `yaml:"selector"`
		Ports     []servicePort     `yaml:"ports"`
	} `yaml:"spec"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int32  `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
}

type configMap struct {
	Metadata meta              `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

type pdb struct {
	Spec struct {
		MaxUnavailable string        `yaml:"maxUnavailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type hpa struct {
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas int `yaml:"minReplicas"`
		Metrics     []struct {
			Resource struct {
				Name string `yaml:"name"`
			} `yaml:"resource"`
		} `yaml:"metrics"`
		Behavior struct {
			ScaleDown struct {
				StabilizationWindowSeconds *int `yaml:"stabilizationWindowSeconds"`
			} `yaml:"scaleDown"`
		} `yaml:"behavior"`
	} `yaml:"spec"`
}

type ingress struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		Rules []struct {
			HTTP struct {
				Paths []struct {
					Backend struct {
						Service struct {
							Name string `yaml:"name"`
							Port struct {
								Name   string `yaml:"name"`
								Number int32  `yaml:"number"`
							} `yaml:"port"`
						} `yaml:"service"`
					} `yaml:"backend"`
				} `yaml:"paths"`
			} `yaml:"http"`
		} `yaml:"rules"`
	} `yaml:"spec"`
}

type manifests struct {
	byKind      map[string][]*yaml.Node
	deployments []deployment
	services    []service
	configMaps  []configMap
	pdbs        []pdb
	hpas        []hpa
	ingresses   []ingress
}

func parseManifests(t *testing.T, rendered []byte) manifests {
	t.Helper()
	m := manifests{byKind: map[string][]*yaml.Node{}}
	dec := yaml.NewDecoder(bytes.NewReader(rendered))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		var head struct {
			Kind string `yaml:"kind"`
		}
		require.NoError(t, doc.Decode(&head))
		m.byKind[head.Kind] = append(m.byKind[head.Kind], &doc)
	}
	decodeAll(t, m.byKind["Deployment"], &m.deployments)
	decodeAll(t, m.byKind["Service"], &m.services)
	decodeAll(t, m.byKind["ConfigMap"], &m.configMaps)
	decodeAll(t, m.byKind["PodDisruptionBudget"], &m.pdbs)
	decodeAll(t, m.byKind["HorizontalPodAutoscaler"], &m.hpas)
	decodeAll(t, m.byKind["Ingress"], &m.ingresses)
	return m
}

func decodeAll[T any](t *testing.T, docs []*yaml.Node, into *[]T) {
	t.Helper()
	for _, d := range docs {
		var v T
		require.NoError(t, d.Decode(&v))
		*into = append(*into, v)
	}
}

func (m manifests) service(name string) (service, bool) {
	for _, s := range m.services {
		if s.Metadata.Name == name {
			return s, true
		}
	}
	return service{}, false
}

func (m manifests) configMap(name string) (configMap, bool) {
	for _, c := range m.configMaps {
		if c.Metadata.Name == name {
			return c, true
		}
	}
	return configMap{}, false
}

func (s service) port(name string, number int32) (servicePort, bool) {
	for _, p := range s.Spec.Ports {
		if (name != "" && p.Name == name) || (name == "" && p.Port == number) {
			return p, true
		}
	}
	return servicePort{}, false
}

// portNumber resolves a port given by name or number, as Services and probes give it.
func (c container) portNumber(nameOrNumber string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == nameOrNumber || strconv.Itoa(int(p.ContainerPort)) == nameOrNumber {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// mountOf is the volume mount a path lies on: the longest mount path that contains it.
func (c container) mountOf(path string) (volumeMount, bool) {
	var best volumeMount
	for _, vm := range c.VolumeMounts {
		if (path == vm.MountPath || strings.HasPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/")) && len(vm.MountPath) > len(best.MountPath) {
			best = vm
		}
	}
	return best, best.Name != ""
}

// envValue is one variable of the container: a literal, or where Kubernetes takes it from.
type envValue struct {
	name    string
	literal *string
	from    valueFrom
}

func (e envValue) value(t testingT) string {
	t.Helper()
	require.NotNil(t, e.literal, "%s has no literal value", e.name)
	return *e.literal
}

// literal is the value the container gives the variable name.
func (gw gateway) literal(t testingT, name string) string {
	t.Helper()
	e, ok := gw.env[name]
	require.True(t, ok, "the container sets no %s", name)
	return e.value(t)
}

// gateway is the Deployment's pod and the configuration it runs: distribution/config.yaml
// with the --config overlays merged, read through the pod's environment.
type gateway struct {
	deployment deployment
	pod        podSpec
	podLabels  map[string]string
	container  container
	env        map[string]envValue
	// overlayPaths are the --config files after the first, as the pod names them;
	// overlayTexts are their contents, for the gateway's validate.
	overlayPaths []string
	overlayTexts []string
	config       map[string]any
}

func loadGateway(t *testing.T, root string, m manifests) gateway {
	t.Helper()
	require.Len(t, m.deployments, 1)
	d := m.deployments[0]
	pod := d.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	gw := gateway{
		deployment: d,
		pod:        pod,
		podLabels:  d.Spec.Template.Metadata.Labels,
		container:  pod.Containers[0],
		env:        map[string]envValue{},
	}
	assert.Subset(t, gw.podLabels, d.Spec.Selector.MatchLabels)

	// envFrom first: a variable in env wins over one from a ConfigMap, as in Kubernetes.
	for _, from := range gw.container.EnvFrom {
		require.NotNil(t, from.ConfigMapRef, "envFrom other than a ConfigMap")
		cm, ok := m.configMap(from.ConfigMapRef.Name)
		require.True(t, ok, "envFrom ConfigMap %s is not in the kustomization", from.ConfigMapRef.Name)
		for k, v := range cm.Data {
			gw.env[k] = envValue{name: k, literal: &v}
		}
	}
	for _, e := range gw.container.Env {
		v := envValue{name: e.Name, literal: e.Value}
		if e.ValueFrom != nil {
			v.from = *e.ValueFrom
		}
		gw.env[e.Name] = v
	}

	var configs []string
	for i := 0; i < len(gw.container.Args); i++ {
		arg := gw.container.Args[i]
		if value, ok := strings.CutPrefix(arg, "--config="); ok {
			configs = append(configs, value)
		} else if arg == "--config" && i+1 < len(gw.container.Args) {
			i++
			configs = append(configs, gw.container.Args[i])
		}
	}
	require.NotEmpty(t, configs, "no --config argument")
	require.Equal(t, bakedConfigPath, configs[0], "the first --config is not the image's configuration")
	gw.config = readYAML(t, filepath.Join(root, "distribution", "config.yaml"))
	for _, path := range configs[1:] {
		var text string
		if name, baked := strings.CutPrefix(path, bakedOverlaysPath); baked {
			data, err := os.ReadFile(filepath.Join(root, "distribution", "overlays", name))
			require.NoError(t, err, "--config %s is no overlay the image bakes", path)
			text = string(data)
		} else {
			text = gw.configMapFile(t, m, path)
		}
		var overlay map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(text), &overlay), path)
		gw.overlayPaths = append(gw.overlayPaths, path)
		gw.overlayTexts = append(gw.overlayTexts, text)
		merge(gw.config, overlay)
	}
	return gw
}

// configMapFile reads a file the pod sees through a ConfigMap volume.
func (gw gateway) configMapFile(t *testing.T, m manifests, path string) string {
	t.Helper()
	mount, ok := gw.container.mountOf(path)
	require.True(t, ok, "--config %s is on no volume", path)
	v, ok := gw.volume(mount.Name)
	require.True(t, ok && v.ConfigMap != nil, "--config %s is not on a ConfigMap volume", path)
	cm, ok := m.configMap(v.ConfigMap.Name)
	require.True(t, ok, "ConfigMap %s is not in the kustomization", v.ConfigMap.Name)
	key := strings.TrimPrefix(path, strings.TrimSuffix(mount.MountPath, "/")+"/")
	data, ok := cm.Data[key]
	require.True(t, ok, "ConfigMap %s has no key %s", cm.Metadata.Name, key)
	return data
}

// validate runs the gateway's validate command on the configuration the pod loads, with
// the pod's environment, when OTELCOL_LAMBDA_BIN names a gateway (make k8s-test sets it).
func (gw gateway) validate(t *testing.T, root string) {
	t.Helper()
	bin := os.Getenv("OTELCOL_LAMBDA_BIN")
	if bin == "" {
		t.Skip("OTELCOL_LAMBDA_BIN unset (make k8s-test sets it)")
	}
	args := []string{"validate", "--config", filepath.Join(root, "distribution", "config.yaml")}
	for i, text := range gw.overlayTexts {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("overlay-%d.yaml", i))
		require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
		args = append(args, "--config", path)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = gw.processEnv()
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "%s", out)
}

// processEnv is the pod's environment for a process run here: the literal values, and a
// stand-in for each value that Kubernetes takes from the pod or a Secret.
func (gw gateway) processEnv() []string {
	var env []string
	for name, e := range gw.env {
		value := "from-" + strings.ToLower(name)
		if e.literal != nil {
			value = *e.literal
		}
		env = append(env, name+"="+value)
	}
	return env
}

func (gw gateway) volume(name string) (volume, bool) {
	for _, v := range gw.pod.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	return volume{}, false
}

// raw is a configuration value as written, before ${env:...} is expanded.
// resourceAttribute is the value the configuration gives the Collector's own resource
// attribute name (service::telemetry::resource::attributes, a list of name and value).
func (gw gateway) resourceAttribute(t *testing.T, name string) string {
	t.Helper()
	attrs, _ := lookup(gw.config, "service", "telemetry", "resource", "attributes").([]any)
	for _, a := range attrs {
		if attr, ok := a.(map[string]any); ok && attr["name"] == name {
			return fmt.Sprint(attr["value"])
		}
	}
	require.Failf(t, "no resource attribute", "service::telemetry::resource::attributes has no %s", name)
	return ""
}

func (gw gateway) raw(t *testing.T, path ...string) string {
	t.Helper()
	v := lookup(gw.config, path...)
	require.NotNil(t, v, "%s is not in the configuration", strings.Join(path, "::"))
	return fmt.Sprint(v)
}

// str is a configuration value as the gateway reads it in the pod; "" when unset.
func (gw gateway) str(t *testing.T, path ...string) string {
	t.Helper()
	v := lookup(gw.config, path...)
	if v == nil {
		return ""
	}
	return gw.expand(t, fmt.Sprint(v))
}

func (gw gateway) number(t *testing.T, path ...string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(gw.str(t, path...), 10, 64)
	require.NoError(t, err, strings.Join(path, "::"))
	return n
}

func (gw gateway) duration(t *testing.T, path ...string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(gw.str(t, path...))
	require.NoError(t, err, strings.Join(path, "::"))
	return d
}

func (gw gateway) list(t *testing.T, path ...string) []any {
	t.Helper()
	l, ok := lookup(gw.config, path...).([]any)
	require.True(t, ok, "%s is not a list", strings.Join(path, "::"))
	return l
}

// envPattern is the Collector's ${env:NAME} and ${env:NAME:-default}.
var envPattern = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// expand substitutes the pod's environment; a variable the pod sets from the downward API
// or a Secret stands for itself, since only its source is known here.
func (gw gateway) expand(t testingT, s string) string {
	t.Helper()
	return envPattern.ReplaceAllStringFunc(s, func(ref string) string {
		groups := envPattern.FindStringSubmatch(ref)
		name, fallback := groups[1], groups[2]
		e, set := gw.env[name]
		switch {
		case set && e.literal != nil:
			return *e.literal
		case set:
			return ref
		case strings.Contains(ref, ":-"):
			return fallback
		}
		t.Errorf("the configuration reads %s, which the pod does not set", name)
		return ""
	})
}

// envReference is the variable a configuration value is read from, ${env:NAME}.
func envReference(t *testing.T, raw string) string {
	t.Helper()
	groups := envPattern.FindStringSubmatch(raw)
	require.NotNil(t, groups, "%q is not read from the environment", raw)
	return groups[1]
}

// endpoint is a host:port the gateway listens on, as written in the configuration.
type endpoint struct {
	name string
	// address is host:port as the configuration writes it; splitHost and splitPort are its
	// parts where the configuration writes them apart (the Prometheus reader).
	address, splitHost, splitPort string
	gw                            gateway
}

func (gw gateway) endpoints() []endpoint {
	host, port := gw.telemetryHostPort()
	return []endpoint{
		{name: "lambda_telemetry", address: gw.addr("receivers", "lambda_telemetry", "http", "endpoint"), gw: gw},
		{name: "otlp", address: gw.addr("receivers", "otlp", "protocols", "grpc", "endpoint"), gw: gw},
		{name: "health_check", address: gw.addr("extensions", "health_check", "endpoint"), gw: gw},
		{name: "telemetry", splitHost: host, splitPort: port, gw: gw},
	}
}

func (gw gateway) endpoint(name string) endpoint {
	for _, e := range gw.endpoints() {
		if e.name == name {
			return e
		}
	}
	panic("no endpoint " + name)
}

// addr is "" when unset, so that hostPort fails the subtest that reads it.
func (gw gateway) addr(path ...string) string {
	if v := lookup(gw.config, path...); v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// telemetryHostPort is the Prometheus reader of the gateway's own metrics; "" for what
// is unset.
func (gw gateway) telemetryHostPort() (host, port string) {
	readers, _ := lookup(gw.config, "service", "telemetry", "metrics", "readers").([]any)
	for _, r := range readers {
		reader, _ := r.(map[string]any)
		if prom, ok := lookup(reader, "pull", "exporter", "prometheus").(map[string]any); ok {
			if prom["host"] != nil {
				host = fmt.Sprint(prom["host"])
			}
			if prom["port"] != nil {
				port = fmt.Sprint(prom["port"])
			}
			return host, port
		}
	}
	return "", ""
}

// hostPort is the address as the gateway reads it in the pod.
func (e endpoint) hostPort(t testingT) (string, int32) {
	t.Helper()
	address := e.gw.expand(t, e.address)
	if e.address == "" && e.splitPort != "" {
		// Expanded apart: a host of ${env:...} may be an IPv6 address.
		address = net.JoinHostPort(e.gw.expand(t, e.splitHost), e.gw.expand(t, e.splitPort))
	}
	require.NotEmpty(t, address, "no endpoint for %s", e.name)
	host, portText, err := net.SplitHostPort(address)
	require.NoError(t, err, "%s: %q is not host:port", e.name, address)
	port, err := strconv.ParseUint(portText, 10, 16)
	require.NoError(t, err, "%s: %q has no port number", e.name, address)
	return host, int32(port)
}

func (e endpoint) port(t testingT) int32 {
	t.Helper()
	_, port := e.hostPort(t)
	return port
}

// merge merges src into dst as the Collector merges --config files: maps key by key, any
// other value (lists included) replaced whole.
// Maps are copied, never shared, so that merging a later file leaves the earlier ones as read.
func merge(dst, src map[string]any) {
	for k, v := range src {
		sm, ok := v.(map[string]any)
		if !ok {
			dst[k] = v
			continue
		}
		dm, ok := dst[k].(map[string]any)
		if !ok {
			dm = map[string]any{}
			dst[k] = dm
		}
		merge(dm, sm)
	}
}

func lookup(m map[string]any, path ...string) any {
	var v any = m
	for _, key := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[key]
	}
	return v
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	var m map[string]any
	decodeFile(t, path, &m)
	return m
}

func decodeFile(t *testing.T, path string, into any) {
	t.Helper()
	require.NoError(t, yaml.Unmarshal([]byte(readFile(t, path)), into), path)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// isLoopback is whether a listener on host is reachable only from inside the pod: any
// address of 127.0.0.0/8 or ::1 (IPv4-mapped too), or localhost.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// testingT is what the readers below need of a test: TestReadersReport checks what they
// report through it.
type testingT interface {
	require.TestingT
	Helper()
}

// quantityBytes reads a Kubernetes memory quantity: 1Gi, 512Mi, 1G, 1000000.
func quantityBytes(t testingT, q string) int64 {
	t.Helper()
	return scaledBytes(t, q, true, map[string]int64{
		"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50,
		"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "": 1,
	})
}

// goMemLimitBytes reads GOMEMLIMIT as the Go runtime does: a number with B, KiB, MiB, GiB
// or TiB.
func goMemLimitBytes(t testingT, s string) int64 {
	t.Helper()
	require.NotEqual(t, "off", s, "GOMEMLIMIT=off: no soft limit, so the GC works harder only at the container's limit; set one between memory_limiter's soft and hard limits")
	return scaledBytes(t, s, false, map[string]int64{
		"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "": 1,
	})
}

// nginxSizeBytes reads an nginx size (client_max_body_size): 20m, 512k, 1g.
func nginxSizeBytes(t testingT, s string) int64 {
	t.Helper()
	return scaledBytes(t, strings.ToLower(s), false, map[string]int64{"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "": 1})
}

// scaledPattern is a number, with a fraction and an exponent as a Kubernetes quantity may
// have them (1.5Gi, 1e9), and a unit.
var scaledPattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)((?:[eE][+-]?[0-9]{1,2})?)([A-Za-z]*)$`)

// scaledBytes reads a number and a unit of units; decimal allows a fraction and an
// exponent. A fraction of a byte is rounded up, as Kubernetes does.
func scaledBytes(t testingT, s string, decimal bool, units map[string]int64) int64 {
	t.Helper()
	groups := scaledPattern.FindStringSubmatch(s)
	require.NotNil(t, groups, "%q is not a size", s)
	require.True(t, decimal || !strings.Contains(groups[1], ".") && groups[2] == "", "%q is not a size: want a whole number", s)
	unit, ok := units[groups[3]]
	require.True(t, ok, "%q: unknown unit %q", s, groups[3])
	n, ok := new(big.Rat).SetString(groups[1] + groups[2])
	require.True(t, ok, "%q is not a size", s)
	n.Mul(n, new(big.Rat).SetInt64(unit))
	bytes := new(big.Int).Quo(n.Num(), n.Denom())
	if !n.IsInt() {
		bytes.Add(bytes, big.NewInt(1))
	}
	require.True(t, bytes.IsInt64(), "%q: too large", s)
	return bytes.Int64()
}

// docsExampleFile is the first line of a code block in docs/deploy.md that a user copies
// into their own overlay directory: "# my-cluster/<file>".
var docsExampleFile = regexp.MustCompile("^# my-cluster/([A-Za-z0-9._-]+)")

// TestDocsOverlayExample renders docs/deploy.md's own-overlay example as a user copies it,
// beside a copy of this directory, and checks what rendering alone does not: everything
// the Deployment refers to is in the output, in the Deployment's namespace, under the
// name kustomize gave it; and the gateway accepts the configuration the pod then loads.
func TestDocsOverlayExample(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	overlay := userOverlay(t, docsExample(t, root))

	m := parseManifests(t, render(t, root, overlay))
	gw := loadGateway(t, root, m)
	namespace := gw.deployment.Metadata.Namespace
	require.NotEmpty(t, namespace, "the Deployment has no namespace")
	inNamespace := func(kind, name string) bool {
		for _, d := range m.byKind[kind] {
			var head struct {
				Metadata meta `yaml:"metadata"`
			}
			require.NoError(t, d.Decode(&head))
			if head.Metadata.Name == name && head.Metadata.Namespace == namespace {
				return true
			}
		}
		return false
	}
	for _, v := range gw.pod.Volumes {
		if v.ConfigMap != nil {
			assert.True(t, inNamespace("ConfigMap", v.ConfigMap.Name),
				"volume %s: ConfigMap %s is not in the output in namespace %s", v.Name, v.ConfigMap.Name, namespace)
		}
	}
	for _, from := range gw.container.EnvFrom {
		if from.ConfigMapRef != nil {
			assert.True(t, inNamespace("ConfigMap", from.ConfigMapRef.Name),
				"envFrom: ConfigMap %s is not in the output in namespace %s", from.ConfigMapRef.Name, namespace)
		}
	}
	t.Run("the gateway accepts the configuration the pod loads", func(t *testing.T) {
		gw.validate(t, root)
	})
}

// docsExample is docs/deploy.md's own-overlay example: its files by name.
func docsExample(t *testing.T, root string) map[string]string {
	t.Helper()
	files := docsExampleFiles(t, readFile(t, filepath.Join(root, "docs", "deploy.md")))
	require.Contains(t, files, "kustomization.yaml", "docs/deploy.md has no my-cluster/kustomization.yaml example")
	return files
}

// userOverlay writes files (name: content) into my-cluster/ beside a copy of this
// directory at deploy/kubernetes, as a user lays out an overlay of their own, and returns
// my-cluster's path.
func userOverlay(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	base := filepath.Join(dir, "deploy", "kubernetes")
	require.NoError(t, os.MkdirAll(base, 0o755))
	manifestsHere, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	for _, name := range manifestsHere {
		require.NoError(t, os.WriteFile(filepath.Join(base, name), []byte(readFile(t, name)), 0o600))
	}
	overlay := filepath.Join(dir, "my-cluster")
	require.NoError(t, os.MkdirAll(overlay, 0o755))
	for name, text := range files {
		require.NoError(t, os.WriteFile(filepath.Join(overlay, name), []byte(text), 0o600))
	}
	return overlay
}

// patchedOverlay is an overlay that patches the gateway's container with
// containerPatch (YAML, as under the container's name).
func patchedOverlay(containerPatch string) map[string]string {
	indented := "                " + strings.ReplaceAll(strings.TrimSpace(containerPatch), "\n", "\n                ")
	return map[string]string{"kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../deploy/kubernetes
patches:
  - patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: otelcol-lambda, namespace: otelcol-lambda}
      spec:
        template:
          spec:
            containers:
              - name: otelcol-lambda
` + indented + "\n"}
}

// TestKustomizationOfAUserOverlay runs TestKustomization on overlays of the kind a user
// writes, through OTELCOL_LAMBDA_KUSTOMIZATION: it holds for the documented example and a
// valid change, and it names what is wrong in one that breaks the base's guarantees.
func TestKustomizationOfAUserOverlay(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	render(t, root, ".") // skips as TestKustomization does when there is no kustomize
	for name, tc := range map[string]struct {
		files map[string]string
		want  string // in the output of a failing TestKustomization; "" when it passes
	}{
		"docs/deploy.md's example": {docsExample(t, root), ""},
		"a decimal memory limit": {patchedOverlay(`
resources: {requests: {memory: 1.5Gi}, limits: {memory: 1.5Gi}}
env: [{name: GOMEMLIMIT, value: 1200MiB}]`), ""},
		"health_check on 127.0.0.2": {patchedOverlay(`env: [{name: OTELCOL_LAMBDA_HEALTH_ENDPOINT, value: "127.0.0.2:13133"}]`),
			"health_check listens on loopback (127.0.0.2)"},
		"health_check on [::1]": {patchedOverlay(`env: [{name: OTELCOL_LAMBDA_HEALTH_ENDPOINT, value: "[::1]:13133"}]`),
			"health_check listens on loopback (::1)"},
		"GOMEMLIMIT off":     {patchedOverlay(`env: [{name: GOMEMLIMIT, value: "off"}]`), "GOMEMLIMIT=off: no soft limit"},
		"GOMEMLIMIT missing": {patchedOverlay(`env: [{name: GOMEMLIMIT, $patch: delete}]`), "the container sets no GOMEMLIMIT"},
	} {
		t.Run(name, func(t *testing.T) {
			overlay := userOverlay(t, tc.files)
			cmd := exec.Command(os.Args[0], "-test.run=^TestKustomization$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), kustomizationEnv+"="+overlay)
			out, err := cmd.CombinedOutput()
			require.Contains(t, string(out), "rendering "+overlay, "TestKustomization did not render the overlay")
			if tc.want == "" {
				assert.NoError(t, err, "%s", out)
				return
			}
			assert.Error(t, err, "TestKustomization passed")
			assert.Contains(t, string(out), tc.want)
		})
	}
}

// docsExampleFiles are the my-cluster files of docs/deploy.md's code blocks, by name.
func docsExampleFiles(t *testing.T, doc string) map[string]string {
	t.Helper()
	files := map[string]string{}
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") || i+1 >= len(lines) {
			continue
		}
		match := docsExampleFile.FindStringSubmatch(lines[i+1])
		end := i + 1
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		if match != nil {
			files[match[1]] = strings.Join(lines[i+1:end], "\n") + "\n"
		}
		i = end
	}
	return files
}

// failures records what a reader reports; FailNow ends the reader's goroutine, as it ends
// a test's.
type failures struct{ messages []string }

func (f *failures) Helper() {}

func (f *failures) Errorf(format string, args ...any) {
	f.messages = append(f.messages, fmt.Sprintf(format, args...))
}

func (f *failures) FailNow() { runtime.Goexit() }

// reported runs read and returns what it reported, "" when nothing.
func reported(read func(t testingT)) string {
	f := &failures{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		read(f)
	}()
	<-done
	return strings.Join(f.messages, "\n")
}

// TestReadersReport checks the readers the manifests' checks rest on: what they take, and
// what they say about what they refuse.
func TestReadersReport(t *testing.T) {
	t.Run("loopback is any loopback address or localhost", func(t *testing.T) {
		for address, loopback := range map[string]bool{
			"127.0.0.1:13133": true, "127.0.0.2:13133": true, "[::1]:13133": true, "localhost:13133": true,
			"[::ffff:127.0.0.1]:13133": true,
			"0.0.0.0:13133":            false, "[::]:13133": false, ":13133": false, "10.0.0.1:13133": false, "gateway:13133": false,
		} {
			var host string
			msg := reported(func(t testingT) { host, _ = endpoint{name: "health_check", address: address}.hostPort(t) })
			require.Empty(t, msg, address)
			assert.Equal(t, loopback, isLoopback(host), "%s (host %q)", address, host)
		}
	})

	t.Run("Kubernetes quantities", func(t *testing.T) {
		for q, want := range map[string]int64{
			"1Gi": 1 << 30, "512Mi": 512 << 20, "1.5Gi": 3 << 29, "0.5Gi": 1 << 29, "1G": 1e9, "2.5M": 2.5e6,
			"1000000": 1e6, "1e9": 1e9, "1.5": 2, // Kubernetes rounds a fraction of a byte up
		} {
			var got int64
			msg := reported(func(t testingT) { got = quantityBytes(t, q) })
			assert.Empty(t, msg, q)
			assert.Equal(t, want, got, q)
		}
		assert.Contains(t, reported(func(t testingT) { quantityBytes(t, "1.5GiB") }), `unknown unit "GiB"`)
		assert.Contains(t, reported(func(t testingT) { quantityBytes(t, "1..5Gi") }), "is not a size")
	})

	t.Run("GOMEMLIMIT", func(t *testing.T) {
		assert.Equal(t, int64(900<<20), goMemLimitBytes(t, "900MiB"))
		assert.Contains(t, reported(func(t testingT) { goMemLimitBytes(t, "1.5GiB") }), "is not a size",
			"the Go runtime takes whole numbers only")
		assert.Contains(t, reported(func(t testingT) { goMemLimitBytes(t, "off") }), "no soft limit")
		gw := gateway{env: map[string]envValue{"FROM_SECRET": {name: "FROM_SECRET"}}}
		assert.Contains(t, reported(func(t testingT) { gw.literal(t, "GOMEMLIMIT") }), "GOMEMLIMIT")
		assert.Contains(t, reported(func(t testingT) { gw.literal(t, "FROM_SECRET") }), "FROM_SECRET has no literal value")
	})
}
