#!/usr/bin/env python3
"""The Triton twins and torch (cuBLAS) peers of `bitmat bench --suite parity`.

`bitmat bench --suite parity --device cuda` runs this script on the same GPU after timing its
own kernels, with the cases as JSON (`--cases '[{"id": 0, "kernel": "vector_add", "dims":
{"n": 67108864}}, ...]'`), and reads one JSON object from stdout; progress goes to stderr.

The kernels are the Triton sources bitmat's DSL ports follow (bitmat-cli/src/bench/parity/
kernels.rs): Triton 3.6's tutorials 01 (vector add), 02 (fused softmax, with its persistent
grid sized from the kernel's occupancy), 03 (matrix multiplication, autotuned over
`get_cuda_autotune_config()`) and 05 (layer norm, forward), a row scan (`tl.cumsum`, which no
tutorial times; torch.cumsum beside it), and BitMat's `_ternary_mm_kernel`
(bitmat/triton_kernels/bitmat_kernel.py) with its seven configurations, autotuned by
`triton.autotune` (BitMat's own `custom_autotune` adds a pruner for small M; at 4096^3 it
prunes nothing). Each twin's output is checked against torch before it is timed; a mismatch
is reported as the case's error, without a time.

Timing mirrors `bitmat_runtime::timing::bench`: one warm-up call (Triton compiles and
autotunes there), then one timed call to estimate the cost `t`, and `budget_ms / t` calls in
all, clamped to [min(3, repeat), repeat] (one when the first exceeds `--single-above-ms`, bitmat's
`--max-launch-ms`); before each timed
call the L2 is flushed by zeroing a buffer of twice its size (at least 64 MiB) outside the
CUDA events that time the call; the median is reported.

Every case runs in its own try block: an exception is reported in that case's `error`, and the
script still prints the whole report. Without torch, triton or a GPU it prints
`{"unavailable": "<why>", "results": []}` and exits 0.
"""

import argparse
import json
import statistics
import sys
import traceback

try:
    import torch
    import triton
    import triton.language as tl

    IMPORT_ERROR = None
except Exception as e:  # noqa: BLE001 -- any import failure means "no twins here"
    IMPORT_ERROR = f"{type(e).__name__}: {e}"

# The smallest flush buffer, whatever the L2 size (bitmat's CacheFlush).
MIN_FLUSH_BYTES = 64 << 20


def log(message):
    print(message, file=sys.stderr, flush=True)


if IMPORT_ERROR is None:

    # ---------------------------------------------------------------- tutorial 01
    @triton.jit
    def add_kernel(x_ptr, y_ptr, output_ptr, n_elements, BLOCK_SIZE: tl.constexpr):
        pid = tl.program_id(axis=0)
        block_start = pid * BLOCK_SIZE
        offsets = block_start + tl.arange(0, BLOCK_SIZE)
        mask = offsets < n_elements
        x = tl.load(x_ptr + offsets, mask=mask)
        y = tl.load(y_ptr + offsets, mask=mask)
        output = x + y
        tl.store(output_ptr + offsets, output, mask=mask)

    # ---------------------------------------------------------------- tutorial 02
    @triton.jit
    def softmax_kernel(output_ptr, input_ptr, input_row_stride, output_row_stride, n_rows, n_cols,
                       BLOCK_SIZE: tl.constexpr, num_stages: tl.constexpr):
        row_start = tl.program_id(0)
        row_step = tl.num_programs(0)
        for row_idx in tl.range(row_start, n_rows, row_step, num_stages=num_stages):
            row_start_ptr = input_ptr + row_idx * input_row_stride
            col_offsets = tl.arange(0, BLOCK_SIZE)
            input_ptrs = row_start_ptr + col_offsets
            mask = col_offsets < n_cols
            row = tl.load(input_ptrs, mask=mask, other=-float('inf'))
            row_minus_max = row - tl.max(row, axis=0)
            numerator = tl.exp(row_minus_max)
            denominator = tl.sum(numerator, axis=0)
            softmax_output = numerator / denominator
            output_row_start_ptr = output_ptr + row_idx * output_row_stride
            output_ptrs = output_row_start_ptr + col_offsets
            tl.store(output_ptrs, softmax_output, mask=mask)

    # ---------------------------------------------------------------- a row scan
    @triton.jit
    def cumsum_kernel(x_ptr, y_ptr, n_cols, BLOCK_SIZE: tl.constexpr):
        row_start = tl.program_id(0) * n_cols
        cols = tl.arange(0, BLOCK_SIZE)
        mask = cols < n_cols
        x = tl.load(x_ptr + row_start + cols, mask=mask, other=0.0)
        tl.store(y_ptr + row_start + cols, tl.cumsum(x, axis=0), mask=mask)

    # ---------------------------------------------------------------- tutorial 05
    @triton.jit
    def _layer_norm_fwd_fused(X, Y, W, B, Mean, Rstd, stride, N, eps, BLOCK_SIZE: tl.constexpr):
        row = tl.program_id(0)
        Y += row * stride
        X += row * stride
        mean = 0
        _mean = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
        for off in range(0, N, BLOCK_SIZE):
            cols = off + tl.arange(0, BLOCK_SIZE)
            a = tl.load(X + cols, mask=cols < N, other=0.).to(tl.float32)
            _mean += a
        mean = tl.sum(_mean, axis=0) / N
        _var = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
        for off in range(0, N, BLOCK_SIZE):
            cols = off + tl.arange(0, BLOCK_SIZE)
            x = tl.load(X + cols, mask=cols < N, other=0.).to(tl.float32)
            x = tl.where(cols < N, x - mean, 0.)
            _var += x * x
        var = tl.sum(_var, axis=0) / N
        rstd = 1 / tl.sqrt(var + eps)
        tl.store(Mean + row, mean)
        tl.store(Rstd + row, rstd)
        for off in range(0, N, BLOCK_SIZE):
            cols = off + tl.arange(0, BLOCK_SIZE)
            mask = cols < N
            w = tl.load(W + cols, mask=mask)
            b = tl.load(B + cols, mask=mask)
            x = tl.load(X + cols, mask=mask, other=0.).to(tl.float32)
            x_hat = (x - mean) * rstd
            y = x_hat * w + b
            tl.store(Y + cols, y, mask=mask)

    # ---------------------------------------------------------------- tutorial 03
    def get_cuda_autotune_config():
        return [
            triton.Config({'BLOCK_SIZE_M': 128, 'BLOCK_SIZE_N': 256, 'BLOCK_SIZE_K': 64, 'GROUP_SIZE_M': 8}, num_stages=3, num_warps=8),
            triton.Config({'BLOCK_SIZE_M': 64, 'BLOCK_SIZE_N': 256, 'BLOCK_SIZE_K': 32, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
            triton.Config({'BLOCK_SIZE_M': 128, 'BLOCK_SIZE_N': 128, 'BLOCK_SIZE_K': 32, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
            triton.Config({'BLOCK_SIZE_M': 128, 'BLOCK_SIZE_N': 64, 'BLOCK_SIZE_K': 32, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
            triton.Config({'BLOCK_SIZE_M': 64, 'BLOCK_SIZE_N': 128, 'BLOCK_SIZE_K': 32, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
            triton.Config({'BLOCK_SIZE_M': 128, 'BLOCK_SIZE_N': 32, 'BLOCK_SIZE_K': 32, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
            triton.Config({'BLOCK_SIZE_M': 64, 'BLOCK_SIZE_N': 32, 'BLOCK_SIZE_K': 32, 'GROUP_SIZE_M': 8}, num_stages=5, num_warps=2),
            triton.Config({'BLOCK_SIZE_M': 32, 'BLOCK_SIZE_N': 64, 'BLOCK_SIZE_K': 32, 'GROUP_SIZE_M': 8}, num_stages=5, num_warps=2),
            # Good config for fp8 inputs.
            triton.Config({'BLOCK_SIZE_M': 128, 'BLOCK_SIZE_N': 256, 'BLOCK_SIZE_K': 128, 'GROUP_SIZE_M': 8}, num_stages=3, num_warps=8),
            triton.Config({'BLOCK_SIZE_M': 256, 'BLOCK_SIZE_N': 128, 'BLOCK_SIZE_K': 128, 'GROUP_SIZE_M': 8}, num_stages=3, num_warps=8),
            triton.Config({'BLOCK_SIZE_M': 256, 'BLOCK_SIZE_N': 64, 'BLOCK_SIZE_K': 128, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
            triton.Config({'BLOCK_SIZE_M': 64, 'BLOCK_SIZE_N': 256, 'BLOCK_SIZE_K': 128, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
            triton.Config({'BLOCK_SIZE_M': 128, 'BLOCK_SIZE_N': 128, 'BLOCK_SIZE_K': 128, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
            triton.Config({'BLOCK_SIZE_M': 128, 'BLOCK_SIZE_N': 64, 'BLOCK_SIZE_K': 64, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
            triton.Config({'BLOCK_SIZE_M': 64, 'BLOCK_SIZE_N': 128, 'BLOCK_SIZE_K': 64, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
            triton.Config({'BLOCK_SIZE_M': 128, 'BLOCK_SIZE_N': 32, 'BLOCK_SIZE_K': 64, 'GROUP_SIZE_M': 8}, num_stages=4, num_warps=4),
        ]

    @triton.autotune(configs=get_cuda_autotune_config(), key=['M', 'N', 'K'])
    @triton.jit
    def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                      BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr, BLOCK_SIZE_K: tl.constexpr,
                      GROUP_SIZE_M: tl.constexpr):
        pid = tl.program_id(axis=0)
        num_pid_m = tl.cdiv(M, BLOCK_SIZE_M)
        num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
        num_pid_in_group = GROUP_SIZE_M * num_pid_n
        group_id = pid // num_pid_in_group
        first_pid_m = group_id * GROUP_SIZE_M
        group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
        pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
        pid_n = (pid % num_pid_in_group) // group_size_m
        offs_am = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
        offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
        offs_k = tl.arange(0, BLOCK_SIZE_K)
        a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
        b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
        accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
        for k in range(0, tl.cdiv(K, BLOCK_SIZE_K)):
            a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_SIZE_K, other=0.0)
            b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_SIZE_K, other=0.0)
            accumulator = tl.dot(a, b, accumulator)
            a_ptrs += BLOCK_SIZE_K * stride_ak
            b_ptrs += BLOCK_SIZE_K * stride_bk
        c = accumulator.to(tl.float16)
        offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
        offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
        c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
        c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
        tl.store(c_ptrs, c, mask=c_mask)

    # ---------------------------------------------------------------- BitMat's kernel
    @triton.autotune(
        configs=[
            triton.Config({"BLOCK_SIZE_M": 16, "BLOCK_SIZE_N": 16, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}, num_stages=1, num_warps=4),
            triton.Config({"BLOCK_SIZE_M": 32, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}, num_stages=1, num_warps=4),
            triton.Config({"BLOCK_SIZE_M": 32, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}, num_stages=4, num_warps=4),
            triton.Config({"BLOCK_SIZE_M": 128, "BLOCK_SIZE_N": 128, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}, num_stages=4, num_warps=4),
            triton.Config({"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 128, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}, num_stages=4, num_warps=4),
            triton.Config({"BLOCK_SIZE_M": 128, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}, num_stages=4, num_warps=4),
            triton.Config({"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 32, "GROUP_SIZE_M": 8}, num_stages=4, num_warps=4),
        ],
        key=["M", "N", "K"],
    )
    @triton.jit
    def _ternary_mm_kernel(a_ptr, b_ptr, c_ptr, M, N, K, n_bits, stride_am, stride_ak, stride_bk, stride_bn,
                           stride_cm, stride_cn, BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr,
                           BLOCK_SIZE_K: tl.constexpr, GROUP_SIZE_M: tl.constexpr):
        pid = tl.program_id(axis=0)
        num_pid_m = tl.cdiv(M, BLOCK_SIZE_M)
        num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
        num_pid_k = tl.cdiv(K, BLOCK_SIZE_K)
        num_pid_in_group = GROUP_SIZE_M * num_pid_n
        group_id = pid // num_pid_in_group
        first_pid_m = group_id * GROUP_SIZE_M
        group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
        pid_m = first_pid_m + (pid % group_size_m)
        pid_n = (pid % num_pid_in_group) // group_size_m
        offs_am = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
        offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
        offs_k = tl.arange(0, BLOCK_SIZE_K)
        a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
        a_mask = offs_am[:, None] < M
        b_ptrs = b_ptr + ((offs_k[:, None] // n_bits) * stride_bk + offs_bn[None, :] * stride_bn)
        c_dtype = tl.load(c_ptr + stride_cm).dtype
        shifter = (offs_k % n_bits)[:, None] * 2
        accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
        for k in range(0, num_pid_k):
            a = (tl.load(a_ptrs, mask=a_mask, other=0.0))
            b = tl.load(b_ptrs)
            b = (b >> shifter) & 0x3
            b = tl.where(b == 0x2, -1, b)
            b = b.to(a.dtype)
            accumulator += tl.dot(a, b, out_dtype=c_dtype)
            a_ptrs += BLOCK_SIZE_K
            b_ptrs += (BLOCK_SIZE_K // n_bits) * stride_bk
        c_ptrs = c_ptr + stride_cm * offs_am[:, None] + stride_cn * offs_bn[None, :]
        c_mask = (offs_am[:, None] < M) & (offs_bn[None, :] < N)
        tl.store(c_ptrs, accumulator, mask=c_mask)


# -------------------------------------------------------------------- host code


def config_text(kernel):
    """The configuration an autotuned kernel chose, as a short string."""
    best = getattr(kernel, "best_config", None)
    return "" if best is None else str(best)


def triton_add(x, y, out):
    n = out.numel()
    grid = lambda meta: (triton.cdiv(n, meta['BLOCK_SIZE']), )  # noqa: E731
    add_kernel[grid](x, y, out, n, BLOCK_SIZE=1024)


class Softmax:
    """Tutorial 02's host code: a persistent grid sized from the compiled kernel's registers
    and shared memory."""

    def __init__(self, x, y):
        props = triton.runtime.driver.active.utils.get_device_properties(torch.cuda.current_device())
        n_rows, n_cols = x.shape
        block = triton.next_power_of_2(n_cols)
        num_warps = 8
        num_stages = 4 if props["max_shared_mem"] > 200000 else 2
        kernel = softmax_kernel.warmup(y, x, x.stride(0), y.stride(0), n_rows, n_cols, BLOCK_SIZE=block,
                                       num_stages=num_stages, num_warps=num_warps, grid=(1, ))
        kernel._init_handles()
        occupancy = props["max_num_regs"] // (kernel.n_regs * props["warpSize"] * num_warps)
        if kernel.metadata.shared:
            occupancy = min(occupancy, props["max_shared_mem"] // kernel.metadata.shared)
        programs = min(props["multiprocessor_count"] * occupancy, n_rows)
        self.run = lambda: kernel[(programs, 1, 1)](y, x, x.stride(0), y.stride(0), n_rows, n_cols, block,
                                                    num_stages)
        self.config = (f"BLOCK_SIZE={block} num_warps={num_warps} num_stages={num_stages} "
                       f"grid={programs} ({kernel.n_regs} registers)")


def layer_norm_launch(x, w, b, y, mean, rstd, eps):
    """Tutorial 05's host code (forward); returns the launch and its settings."""
    M, N = x.shape
    MAX_FUSED_SIZE = 65536 // x.element_size()
    BLOCK_SIZE = min(MAX_FUSED_SIZE, triton.next_power_of_2(N))
    if N > BLOCK_SIZE:
        raise RuntimeError("This layer norm doesn't support feature dim >= 64KB.")
    num_warps = min(max(BLOCK_SIZE // 256, 1), 8)

    def run():
        _layer_norm_fwd_fused[(M, )](x, y, w, b, mean, rstd, x.stride(0), N, eps, BLOCK_SIZE=BLOCK_SIZE,
                                     num_warps=num_warps, num_ctas=1)

    return run, f"BLOCK_SIZE={BLOCK_SIZE} num_warps={num_warps} grid={M}"


def triton_matmul(a, b, c):
    M, K = a.shape
    _, N = b.shape
    grid = lambda meta: (triton.cdiv(M, meta['BLOCK_SIZE_M']) * triton.cdiv(N, meta['BLOCK_SIZE_N']), )  # noqa: E731
    matmul_kernel[grid](a, b, c, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0),
                        c.stride(1))


def triton_ternary(a, b, c, int_per_2_bits=4):
    """BitMat's `bitmat_` host code: `a` int8 [M, K], `b` int8 packed [K / 4, N], `c` f16."""
    M, K = a.shape
    _, N = b.shape
    grid = lambda meta: (triton.cdiv(M, meta['BLOCK_SIZE_M']) * triton.cdiv(N, meta['BLOCK_SIZE_N']), )  # noqa: E731
    _ternary_mm_kernel[grid](a, b, c, M, N, K, int_per_2_bits, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                             c.stride(0), c.stride(1))


def pack_ternary(values):
    """BitMat's `pack_ternary` for 4 codes per int8: `values` [N, K] in {-1, 0, 1} -> [N, K/4],
    codes 0, 1, 2 (for -1) at bits 2i of byte i // 4, lowest first."""
    codes = values.clone()
    codes[values == -1] = 2
    shift = torch.arange(4, device=values.device) * 2
    n, k = values.shape
    packed = (codes.view(n, k // 4, 4).to(torch.int32) << shift).sum(-1)
    return packed.to(torch.int8)


class Timer:
    """Times a call as `bitmat_runtime::timing::bench` does (see the module docs)."""

    def __init__(self, repeat, budget_ms, single_above_ms, flush):
        self.repeat = max(repeat, 1)
        self.budget_ms = budget_ms
        self.single_above_ms = single_above_ms
        self.flush = None
        if flush:
            # torch names the L2 size since 2.1; without it, assume 128 MiB (flush 256 MiB,
            # as triton.testing.do_bench does).
            l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 128 << 20)
            size = max(2 * l2, MIN_FLUSH_BYTES)
            self.flush = torch.empty(size, dtype=torch.int8, device="cuda")
            self.describe = f"L2 flush: {size >> 20} MiB zeroed before each timed launch (L2 {l2 / 2**20:.1f} MiB)"
        else:
            self.describe = "no cache flush (--no-flush)"

    def _once(self, fn):
        if self.flush is not None:
            self.flush.zero_()
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)

    def time(self, fn):
        """Returns (median ms, samples)."""
        fn()  # warm-up: compiles, autotunes
        torch.cuda.synchronize()
        first = self._once(fn)
        low = min(3, self.repeat)
        if first > self.single_above_ms:
            reps = 1
        elif first > 0:
            reps = min(max(int(self.budget_ms // first), low), self.repeat)
        else:
            reps = self.repeat
        times = [first] + [self._once(fn) for _ in range(reps - 1)]
        return statistics.median(times), len(times)


def timed(name, timer, fn, check, config=None):
    """Times `fn` after `check` (which raises on a wrong output); errors go to the result."""
    result = {"name": name, "us": None, "samples": None, "config": None, "error": None}
    try:
        fn()
        torch.cuda.synchronize()
        check()
        ms, samples = timer.time(fn)
        result.update(us=ms * 1e3, samples=samples, config=config() if callable(config) else config)
    except Exception as e:  # noqa: BLE001 -- reported, not raised
        result["error"] = f"{type(e).__name__}: {e}"
        log(f"{name}: {traceback.format_exc()}")
    return result


def close(got, want, what, atol, rtol):
    """Raises when `got` differs from `want` beyond torch.allclose's tolerance."""
    if not torch.allclose(got.float(), want.float(), atol=atol, rtol=rtol):
        diff = (got.float() - want.float()).abs().max().item()
        raise AssertionError(f"{what} differs from torch's by up to {diff:g} (atol {atol}, rtol {rtol})")


def run_case(case, timer):
    kernel, dims = case["kernel"], case["dims"]
    gen = torch.Generator(device="cuda").manual_seed(case["id"])
    dev = "cuda"
    if kernel == "vector_add":
        n = dims["n"]
        x = torch.rand(n, device=dev, generator=gen)
        y = torch.rand(n, device=dev, generator=gen)
        out_t, out_p = torch.empty_like(x), torch.empty_like(x)
        tri = timed("triton", timer, lambda: triton_add(x, y, out_t),
                    lambda: close(out_t, x + y, "output", 0, 0), "BLOCK_SIZE=1024 num_warps=4")
        peer = timed("torch.add", timer, lambda: torch.add(x, y, out=out_p), lambda: None)
    elif kernel == "softmax":
        rows, cols = dims["rows"], dims["cols"]
        x = torch.randn(rows, cols, device=dev, generator=gen)
        y = torch.empty_like(x)
        holder = {}

        def run():
            if "s" not in holder:
                holder["s"] = Softmax(x, y)
            holder["s"].run()

        tri = timed("triton", timer, run, lambda: close(y, torch.softmax(x, dim=1), "output", 1e-6, 1e-4),
                    lambda: holder["s"].config)
        peer = timed("torch.softmax", timer, lambda: torch.softmax(x, dim=-1), lambda: None)
    elif kernel == "cumsum":
        rows, cols = dims["rows"], dims["cols"]
        x = torch.rand(rows, cols, device=dev, generator=gen) * 2 - 1
        y = torch.empty_like(x)
        block = triton.next_power_of_2(cols)
        # Each output within (log2(n) + 1) 2^-24 sum |x_j| of the exact scan; torch's in f64
        # stands in for it, and 2^-24 * (log2(n) + 1) * n bounds the magnitudes here.
        atol = 2.0 ** -23 * (block.bit_length() + 1) * cols
        tri = timed("triton", timer, lambda: cumsum_kernel[(rows, )](x, y, cols, BLOCK_SIZE=block, num_warps=4),
                    lambda: close(y, torch.cumsum(x.double(), dim=1), "output", atol, 0),
                    f"BLOCK_SIZE={block} num_warps=4 grid={rows}")
        peer = timed("torch.cumsum", timer, lambda: torch.cumsum(x, dim=1), lambda: None)
    elif kernel == "layer_norm":
        rows, cols = dims["rows"], dims["cols"]
        x = -2.3 + 0.5 * torch.randn(rows, cols, device=dev, dtype=torch.float16, generator=gen)
        w = torch.rand(cols, device=dev, dtype=torch.float16, generator=gen)
        b = torch.rand(cols, device=dev, dtype=torch.float16, generator=gen)
        y = torch.empty_like(x)
        mean = torch.empty(rows, dtype=torch.float32, device=dev)
        rstd = torch.empty(rows, dtype=torch.float32, device=dev)
        eps = 1e-5
        run, config = layer_norm_launch(x, w, b, y, mean, rstd, eps)
        want = lambda: torch.nn.functional.layer_norm(x, (cols, ), w, b, eps)  # noqa: E731
        tri = timed("triton", timer, run, lambda: close(y, want(), "y", 1e-2, 0), config)
        peer = timed("torch.nn.functional.layer_norm", timer, want, lambda: None)
    elif kernel == "matmul_fp16":
        m, n, k = dims["m"], dims["n"], dims["k"]
        a = torch.randn(m, k, device=dev, dtype=torch.float16, generator=gen)
        b = torch.randn(k, n, device=dev, dtype=torch.float16, generator=gen)
        c = torch.empty(m, n, device=dev, dtype=torch.float16)
        tri = timed("triton", timer, lambda: triton_matmul(a, b, c),
                    lambda: close(c, torch.matmul(a, b), "c", 1e-2, 1e-2), lambda: config_text(matmul_kernel))
        peer = timed("torch.matmul (cuBLAS)", timer, lambda: torch.matmul(a, b), lambda: None)
    elif kernel == "ternary_bitmat":
        m, n, k = dims["m"], dims["n"], dims["k"]
        a = torch.randint(-127, 128, (m, k), device=dev, dtype=torch.int8, generator=gen)
        w = torch.randint(-1, 2, (n, k), device=dev, dtype=torch.int8, generator=gen)
        # BitMat's kernel operand: `pack_ternary(W).t().contiguous()`, [K / 4, N].
        b = pack_ternary(w).t().contiguous()
        c = torch.empty(m, n, device=dev, dtype=torch.float16)
        w_kn = w.t().contiguous()
        # Integer sums below 2^24 are exact in f32: the exact product, rounded once to f16.
        want = torch.matmul(a.float(), w_kn.float()).to(torch.float16)
        tri = timed("triton", timer, lambda: triton_ternary(a, b, c), lambda: close(c, want, "c", 0, 0),
                    lambda: config_text(_ternary_mm_kernel))
        peer = timed("torch._int_mm (int8)", timer, lambda: torch._int_mm(a, w_kn),
                     lambda: close(torch._int_mm(a, w_kn).to(torch.float16), want, "c", 0, 0))
    else:
        raise ValueError(f"unknown kernel `{kernel}`")
    return {"id": case["id"], "triton": tri, "peer": peer}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="[]", help="the cases, as JSON")
    parser.add_argument("--repeat", type=int, default=20, help="most timed launches per case")
    parser.add_argument("--budget-ms", type=float, default=2000.0, help="time to spend per case")
    parser.add_argument("--single-above-ms", type=float, default=2000.0,
                        help="a first timed launch longer than this is the only sample")
    parser.add_argument("--no-flush", action="store_true", help="do not flush the L2")
    parser.add_argument("--probe", action="store_true", help="only report the versions (or why not)")
    args = parser.parse_args()
    cases = json.loads(args.cases)
    if IMPORT_ERROR is not None:
        why = f"{sys.executable} cannot import torch and triton ({IMPORT_ERROR})"
        print(json.dumps({"unavailable": why, "results": []}))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"unavailable": f"torch {torch.__version__} sees no CUDA device", "results": []}))
        return 0
    report = {
        "unavailable": None,
        "triton": triton.__version__,
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "cache_flush": None,
        "results": [],
    }
    if args.probe:
        print(json.dumps(report))
        return 0
    timer = Timer(args.repeat, args.budget_ms, args.single_above_ms, not args.no_flush)
    report["cache_flush"] = timer.describe
    for case in cases:
        log(f"{case['kernel']} {case['dims']}")
        try:
            result = run_case(case, timer)
        except Exception as e:  # noqa: BLE001 -- setting up the case failed: both entries say why
            log(traceback.format_exc())
            error = {"name": case["kernel"], "us": None, "samples": None, "config": None,
                     "error": f"{type(e).__name__}: {e}"}
            result = {"id": case["id"], "triton": dict(error, name="triton"), "peer": dict(error, name="torch")}
        for which in ("triton", "peer"):
            r = result[which]
            log(f"  {r['name']}: " + (f"{r['us']:.1f} us" if r["us"] is not None else f"error: {r['error']}"))
        report["results"].append(result)
        torch.cuda.empty_cache()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
