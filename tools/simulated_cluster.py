"""What the program reads from its cluster, answered offline for tools/runner.py's mock engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimulatedCluster:
    """What the program reads from its cluster (``Resource.get``), answered offline. Addresses are RFC 5737
    documentation addresses; the UID is the one the stack recorded, so a render reaches the stack's own cluster
    unless a test says otherwise."""

    kube_system_uid: str = "00000000-0000-4000-8000-000000000000"
    api_server_addresses: tuple[str, ...] = ("192.0.2.1",)
    load_balancer_address: str = "192.0.2.80"
    # StorageClasses that exist, and whether each allows volume expansion; any other name reads as expandable.
    storage_classes: tuple[tuple[str, bool], ...] = ()
    node_ports: tuple[tuple[int, int], ...] = ((80, 30080), (443, 30443))

    @classmethod
    def recorded_by(cls, values: dict) -> SimulatedCluster:
        cluster = values.get("ams:cluster") or {}
        uid = cluster.get("uid") if isinstance(cluster, dict) else ""
        return cls(kube_system_uid=uid) if uid else cls()

    def read(self, type_token: str, resource_id: str) -> dict:
        """The live object's state for a read of ``type_token`` by ID; {} for objects this cluster does not model."""
        if type_token == "kubernetes:core/v1:Namespace" and resource_id == "kube-system":
            return {"metadata": {"name": "kube-system", "uid": self.kube_system_uid}}
        if type_token == "kubernetes:discovery.k8s.io/v1:EndpointSlice" and resource_id == "default/kubernetes":
            return {"addressType": "IPv4", "endpoints": [{"addresses": [address]} for address in self.api_server_addresses]}
        if type_token == "kubernetes:storage.k8s.io/v1:StorageClass":
            expansion = dict(self.storage_classes).get(resource_id, True)
            return {"metadata": {"name": resource_id}, "provisioner": "example.com/csi", "allowVolumeExpansion": expansion}
        if type_token == "kubernetes:core/v1:Service":
            ports = [{"port": port, "nodePort": node_port} for port, node_port in self.node_ports]
            load_balancer = {"ingress": [{"ip": self.load_balancer_address}]}
            return {"spec": {"ports": ports}, "status": {"loadBalancer": load_balancer}}
        return {}
