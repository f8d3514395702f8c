"""The CPU a figure was measured on: its name and the instruction sets that decide ONNX Runtime's kernels.

Why: the same int8 file runs on different kernels on different CPUs (int8 dot products with AVX-512
VNNI, AVX-VNNI or AMX; pairs of 16-bit sums with AVX2 alone), and a latency figure means little
without its CPU. Evaluations, cards and the benchmark name the machine they ran on.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The extensions that change which int8 and float kernels ONNX Runtime runs, as Linux names them
# (x86 `flags`, ARM `Features`), in the order a reader compares CPUs by.
KERNEL_ISA = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")
# Any of these multiplies uint8 by int8 into 32-bit sums in one instruction: no 16-bit pair that can saturate.
INT8_DOT_PRODUCT = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")


@dataclass(frozen=True)
class Cpu:
    model: str
    cores: int
    isa: tuple[str, ...]

    @property
    def int8_dot_product(self) -> bool:
        return any(flag in self.isa for flag in INT8_DOT_PRODUCT)

    def summary(self) -> str:
        """One line for a card or a report: ``Intel Xeon ..., 2 cores, avx2 avx512_vnni amx_int8``."""
        dot = "int8 dot products" if self.int8_dot_product else "no int8 dot-product instruction"
        return f"{self.model}, {self.cores} cores ({' '.join(self.isa) or 'no SIMD extension listed'}; {dot})"

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "isa": list(self.isa), "int8_dot_product": self.int8_dot_product}

    @classmethod
    def from_json(cls, facts: dict[str, Any]) -> Cpu:
        return cls(model=str(facts["model"]), cores=int(facts["cores"]), isa=tuple(facts["isa"]))

    def tags(self) -> dict[str, str]:
        """MLflow tags of a run measured here."""
        return {"machine.cpu": self.model, "machine.isa": " ".join(self.isa), "machine.cores": str(self.cores)}


def describe(cpuinfo: Path = Path("/proc/cpuinfo")) -> Cpu:
    """This machine's CPU, as the kernel reports it (``platform`` alone where there is no /proc/cpuinfo)."""
    fields: dict[str, str] = {}
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() not in fields:  # the first processor's entry stands for all
                fields[key.strip()] = value.strip()
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    model = fields.get("model name") or fields.get("Model") or platform.processor() or platform.machine()
    return Cpu(model=model, cores=os.cpu_count() or 1, isa=tuple(f for f in KERNEL_ISA if f in flags))
