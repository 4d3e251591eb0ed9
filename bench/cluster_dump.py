#!/usr/bin/env python3
"""Write a large cluster dump as `kubectl get -A -o json` prints it, for memory measurements.

usage: cluster_dump.py OUT.json [MIB] [SHAPE]   (default 100 MiB, deployments)

SHAPE deployments: Deployments with managed fields, a last-applied-configuration
annotation and a pod template of realistic size (about 6 KiB each). SHAPE small:
ConfigMaps of many short keys and numbers (the worst case for a parsed JSON tree, whose
cost is per value). Both with one node and kubeadm's ConfigMap. Deterministic: the same
arguments give the same bytes.
"""
import json, sys

out = sys.argv[1]
mib = int(sys.argv[2]) if len(sys.argv) > 2 else 100
shape = sys.argv[3] if len(sys.argv) > 3 else "deployments"


def config_map(i):
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": f"cm-{i}", "namespace": f"team-{i % 50}"},
        "data": {f"k{k}": str(k) for k in range(100)},
        "binaryData": {},
        "sizes": list(range(200)),
    }


def deployment(i):
    name, ns = f"app-{i}", f"team-{i % 50}"
    spec = {
        "replicas": 3,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name, "tier": "web"}},
            "spec": {"containers": [{
                "name": f"c{j}", "image": f"registry.example:5000/{name}/c{j}:v1.{j}",
                "env": [{"name": f"VAR_{k}", "value": "x" * 40} for k in range(8)],
                "ports": [{"containerPort": 8080 + j, "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
            } for j in range(3)]},
        },
    }
    applied = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "namespace": ns}, "spec": spec}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": name, "namespace": ns, "uid": f"{i:032x}", "resourceVersion": str(i),
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied),
            },
            "managedFields": [{"manager": "kubectl", "operation": "Apply",
                               "fieldsV1": {"f:spec": {f"f:k{k}": {} for k in range(20)}}}],
        },
        "spec": spec,
        "status": {"replicas": 3, "readyReplicas": 3,
                   "conditions": [{"type": "Available", "status": "True"}]},
    }


with open(out, "w") as f:
    f.write('{"apiVersion":"v1","kind":"List","items":[')
    f.write(json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cp-1"},
                        "status": {"nodeInfo": {"kubeletVersion": "v1.29.6",
                                                "kubeProxyVersion": "v1.29.6"}}}))
    f.write(",")
    f.write(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                        "data": {"ClusterConfiguration":
                                 "imageRepository: registry.enclave:5000/k8s\n"
                                 "kubernetesVersion: v1.29.6\n"}}))
    i = 0
    while f.tell() < mib * 1024 * 1024:
        f.write(",")
        f.write(json.dumps(deployment(i) if shape == "deployments" else config_map(i)))
        i += 1
    f.write("]}\n")
