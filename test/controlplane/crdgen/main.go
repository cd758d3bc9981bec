// Command crdgen writes KubeVirt's VirtualMachine and VirtualMachineInstance CRDs as YAML, built by
// the virt-operator code of the kubevirt.io/kubevirt version pinned in go.mod.
//
//	crdgen OUTDIR   writes OUTDIR/vm.yaml and OUTDIR/vmi.yaml
package main

import (
	"fmt"
	"os"
	"path/filepath"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components"
	"sigs.k8s.io/yaml"
)

func write(dir, name string, build func() (*extv1.CustomResourceDefinition, error)) error {
	crd, err := build()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	crd.APIVersion = "apiextensions.k8s.io/v1"
	crd.Kind = "CustomResourceDefinition"
	// As a manifest: without the empty status and creationTimestamp the Go types always carry.
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	delete(obj, "status")
	unstructured.RemoveNestedField(obj, "metadata", "creationTimestamp")
	out, err := yaml.Marshal(obj)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return os.WriteFile(filepath.Join(dir, name), out, 0o644)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crdgen OUTDIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	for name, build := range map[string]func() (*extv1.CustomResourceDefinition, error){
		"vm.yaml":  components.NewVirtualMachineCrd,
		"vmi.yaml": components.NewVirtualMachineInstanceCrd,
	} {
		if err := write(dir, name, build); err != nil {
			fmt.Fprintln(os.Stderr, "crdgen:", err)
			os.Exit(1)
		}
	}
}
