#!/usr/bin/env bash
# Prints the CPU every benchmark figure came from: model name, the flags that choose the kernels
# (avx2, avx512f, avx512_bf16, amx_bf16, amx_tile) and the number of cores.
model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //')
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -x -E 'avx2|avx512f|avx512_bf16|amx_bf16|amx_tile' | tr '\n' ' ')
echo "cpu: ${model:-unknown} [${flags% }], $(nproc) cores"
