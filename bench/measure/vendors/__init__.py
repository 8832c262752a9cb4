"""One seam per accelerator vendor: ``nvidia``, ``amd``, ``ascend`` (vendor key ``huawei``) and ``cpu``.

Every vendor module has the same face, which sysinfo, the device sampler and the energy sources use:

- ``VENDOR``: its key (what ``SensorTarget.vendor`` and ``Device.vendor`` say);
- ``SOURCES``: the ``energy.source`` names it answers to;
- ``list_devices() -> (devices, why_none)``: what it finds on this machine, for sysinfo;
- ``energy_source(req: SourceRequest) -> EnergySource``: its power/energy reader, whose
  ``telemetry()`` and ``device_memory()`` give the device's memory, clocks and temperature;
- ids through ``ids.device_ids(VENDOR, logical)``, the one mapping of visible-device variables.

Parsers of tool output (``parsers/npu_smi.py``, ``parsers/amd_smi.py``) are pure and stand apart from
the code that runs the tools. A new vendor is one module with this face and one line in ``registry.VENDORS``.
"""
