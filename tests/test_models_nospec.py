"""models/include/linux/nospec.h against the kernel's own definition of the value.

The model is compiled by gcc (the oracle compiles it too, so the oracle cannot
judge it) and compared, for index and size values around the interesting edges,
with the generic mask of include/linux/nospec.h, written here from the kernel's
formula: ~(long)(index | (size - 1UL - index)) >> (BITS_PER_LONG - 1), which is
all ones exactly when index < size, for index and size at most LONG_MAX; and,
for int arguments (converted to unsigned long, so a negative one is huge), with
the unsigned comparison arm64 (cmp + csetm lo) and x86 (cmp + sbb) make.  The
result has the type of `index`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

MODEL_INCLUDE = Path(__file__).resolve().parent.parent / "models" / "include"

PROGRAM = r"""
#include <stdio.h>
#include <linux/nospec.h>

static unsigned long kernel_mask(unsigned long index, unsigned long size)
{
	return ~(long)(index | (size - 1UL - index)) >> 63;
}

int main(void)
{
	static const unsigned long values[] = {
		0, 1, 2, 7, 8, 441, 0x7fffffffUL, 0x80000000UL, 0xffffffffUL,
		0x100000000UL, 0x7ffffffffffffffeUL, 0x7fffffffffffffffUL,
	};
	unsigned n = sizeof values / sizeof values[0], i, j, bad = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			unsigned long index = values[i], size = values[j];
			unsigned long want = index & kernel_mask(index, size);
			unsigned long got = array_index_nospec(index, size);
			unsigned int index32 = (unsigned int)index, size32 = (unsigned int)size;
			unsigned int got32 = array_index_nospec(index32, size32);
			int sindex = (int)index;
			int sgot = array_index_nospec(sindex, (int)size);

			if (got != want || got32 != (index32 < size32 ? index32 : 0)) {
				printf("index %#lx size %#lx: %#lx / %#x\n", index, size, got, got32);
				bad++;
			}
			/* arm64 and x86 compare as unsigned long (the generic mask
			 * needs both at most LONG_MAX, which a negative int is not) */
			if (sgot != ((unsigned long)(long)sindex < (unsigned long)(long)(int)size
				     ? sindex : 0)) {
				printf("int index %d size %d: %d\n", sindex, (int)size, sgot);
				bad++;
			}
			if (array_index_mask_nospec(index, size) != kernel_mask(index, size)) {
				printf("mask %#lx %#lx\n", index, size);
				bad++;
			}
		}
	}
	printf("%u mismatches\n", bad);
	return bad != 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_array_index_nospec_is_the_kernels_value(tmp_path: Path) -> None:
    source = tmp_path / "nospec.c"
    source.write_text(PROGRAM)
    binary = tmp_path / "nospec"
    subprocess.run(["gcc", "-std=gnu11", "-O1", "-I", str(MODEL_INCLUDE), "-o", str(binary),
                    str(source)], check=True, capture_output=True, timeout=120)
    run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout
    assert run.stdout.strip() == "0 mismatches"
