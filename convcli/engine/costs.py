"""The planner's cost model: measured milliseconds per method, and its tuning tables.

Costs are in milliseconds per million output samples (one sample = one pixel
of one channel), measured on the 2-core development machine (AMD EPYC, Zen 3,
512 KB L2 per core and 32 MB L3, 2160x3840x3 float32, 2 threads, median of 5).
Byte sizes of strips and chunks are in :mod:`convcli.config`.
"""

from __future__ import annotations

# Costs re-measured on 2026-11-28 with every method in the same process,
# interleaved (2160x3840x3 float32 = 24.9 M samples, 2 threads, median of 5;
# the machine was slower that day than in earlier sessions, so all methods
# were measured together and only their ratios matter).

#: Direct cost per array touch (one read or write of one sample, counted by
#: :func:`step_traffic`) per million output samples, summed over threads
#: (ms), and its fixed part per million input samples read (padding each
#: strip's rows).  A per-channel kernel makes the touches counted by
#: :func:`direct_traffic` (+1/-1 weights need no product; Horner's rule where
#: it moves less); a channel-mixing tap costs about 7 (a product and an add).
#: Measured with Horner's rule, 2 threads, median ms (touches): sharpen (14)
#: 58, laplacian (16) 56, detail (16) 50, sobel-x (19) 62, box (26) 63,
#: contour (26) 60, smooth (28) 65, gaussian-3x3 (30) 74, 3x3 random (44) 85,
#: blur (47) 81, gaussian-5x5 (84) 117, 5x5 random (124) 162, 9x9 gaussian
#: (270) 266, 9x9 rank 2 (404) 397: about 46 + 0.87 per touch, i.e. 3.7 per
#: million input samples plus 0.070 per touch per million output samples
#: per thread.
MS_DIRECT_TOUCH = 0.070
MS_DIRECT_FIXED = 3.7
#: Separable cost per touch of the horizontal sum (see :func:`horizontal_steps`)
#: per million output samples (ms), and, per million samples of the
#: padded-width intermediate, a fixed part (reading the rows) and a part per
#: rank component (its share of the vertical matrix product).  Measured in the
#: same run as the direct costs (touches, rank): sobel-x (3, 1) 61, box (6, 1)
#: 71, gaussian-3x3 (8, 1) 70, 5x5 gaussians (16, 1) 70-79, 9x9 (32, 1) 101,
#: 15x15 (56, 1) 129, 31x31 (122, 1) 218, 15x15 box (42, 1) 104; sharpen,
#: laplacian, smooth, detail, contour (19, 2) 85-97, unsharp-5x5 (37, 2) 107,
#: blur (31, 2) 102, 9x9 rank 2 (85, 2) 161, 3x3 random (38, 3) 137, 5x5
#: random (114, 5) 305: about 39 + 18 per component + 1.32 per touch.
MS_SEPARABLE_TOUCH = 0.106
MS_SEPARABLE_FIXED = 3.1
MS_SEPARABLE_RANK = 1.45
#: Box cost per million output samples, summed over threads (ms): 2160x3840x3
#: float32 measured 264-370 ms for 3x3 ... 63x63 (flat) in earlier sessions,
#: 282 (15x15) and 307 (63x63) on 2026-11-28, i.e. 22-25.  Beats the separable
#: path of a box kernel from about 63x63 (measured 15x15: box 282 vs separable
#: 109 ms; 63x63: 307 vs 357).
MS_BOX = 22.0
#: FFT cost per million stride-1 samples for a 256x256 tile and a small kernel
#: (ms), all threads together: 2160x3840x3 float32 measured 460-550 ms for
#: 7x7 ... 31x31 (flat) on a quiet machine (earlier, shared: 630-1300), and
#: 517 / 542 / 591 / 868 ms for 9x9 / 15x15 / 31x31 / 63x63 with the rest
#: (about 20 for the factor of :func:`fft_tile`).  Gemm wins up to about
#: 21x21 random kernels, FFT from there.
MS_FFT = 20.0
#: FFT tile sizes tried (fast sizes).  Measured at 31x31: 128 688, 256 633,
#: 512 1152, 1024 836 ms; at 63x63 512-1024 are best.  A tile must be at least
#: four times the dilated kernel (the largest tile is always allowed).
FFT_TILES = (256, 512, 1024)
#: Gemm cost per million output samples (ms, summed over threads): a fixed
#: part, a part per non-zero kernel column (one shifted add over the output)
#: and a part per multiply-add of the product (``m * K / R`` per sample for
#: ``m`` columns, ``K = R + kh - 1`` input rows per block of ``R``).
#: Measured random kernels: 3x3 71 ms, 5x5 97, 7x7 147, 9x9 189, 11x11 229,
#: 15x15 311, 21x21 592 (sharpen 77; FFT 517-591 for 9x9 ... 31x31), fitted
#: by least squares.
MS_GEMM_FIXED = 5.2
MS_GEMM_PER_COLUMN = 0.12
MS_GEMM_PER_MAC = 0.31
#: Output rows per matrix product (``R``) by kernel height: ``(up to kh, R)``,
#: the last entry for every taller kernel.  Measured (random kernels, ms for
#: R = 4 / 6 / 8 / 12 / 16): 3x3 98/87/84/77/82, 5x5 126/121/115/109/128,
#: 7x7 170/146/149/169/216, 9x9 215/197/201/238/324; R = 4 / 6 / 8: 11x11
#: 249/240/256, 15x15 375/442/525, 21x21 656/758/889.
GEMM_BLOCK_ROWS = ((5, 12), (11, 8), (4096, 4))
#: Strips per thread for gemm.  Measured 1 / 2 / 4 / 8 strips per thread, ms:
#: 3x3 71/65/70/70, 5x5 93/99/100/100, 9x9 180/176/181/166 (within noise);
#: 4 keeps the threads balanced on small images.
GEMM_STRIPS_PER_THREAD = 4
#: Einsum cost per tap of its grid (see :func:`tap_grid`) per million output
#: samples, and a fixed part per million input samples (padding edge
#: columns, zeroing the output, the iterator), summed over threads (ms).
#: Measured (taps) ms, 2 threads, median of 8, in the same run as direct and
#: gemm: sobel-x (6) 50, 3x3 random (9) 62, sharpen (9) 59, smooth (9) 62,
#: 5x5 random (25) 105, 7x7 (49) 174, 9x9 (81) 217 (direct 56, 84, 50, 68,
#: 152, 257, 415; gemm 58, 69, 70, 73, 111, 138, 187): about 36 + 2.8 per tap.
#: The fused separable passes cost the same per tap (vertical taps per
#: intermediate sample, horizontal ones per output sample) plus
#: :data:`MS_FUSED_RANK` per component: 3x3 / 5x5 / 9x9 / 15x15 / 31x31
#: gaussians (6 / 10 / 18 / 30 / 62 taps) 50 / 65 / 85 / 128 / 208 ms,
#: unsharp-5x5 (rank 2, 20 taps) 108 (with sum steps: 66, 76, 93, 119, 189, 115).
MS_EINSUM_TAP = 0.225
MS_EINSUM_FIXED = 2.9
MS_FUSED_RANK = 1.5
#: Relative error allowed for a low-rank kernel: the summed absolute residual
#: of the rank-r reconstruction over the summed absolute kernel.
LOWRANK_RTOL = {4: 1e-7, 8: 1e-14}
#: Highest rank the planner looks for unless separable is forced: rank r costs
#: r * (kh + kw) taps, and a rank-32 kernel of 65x65 (4,160 taps) is already
#: past the fft's flat cost.
LOWRANK_MAX = 32
#: Fixed cost per call (ms) so tiny images stay on the simplest path.
MS_SETUP = {
    "direct": 0.0,
    "separable": 0.05,
    "box": 0.05,
    "fft": 0.5,
    "gemm": 0.05,
    "einsum": 0.05,
}
