"""Cross-check convcli's forward and backward passes against PyTorch autograd.

Not part of the test suite (PyTorch is not a dependency). Run it where torch is
installed::

    pip install torch  # CPU build is enough
    python benchmarks/check_against_torch.py

For random images and kernels it compares ``convcli.correlate`` and
``convcli.loss_and_grad`` (loss, dL/dw, dL/dx) with ``torch.nn.functional.conv2d``
on a padded input, for every loss, the border modes PyTorch has
(zeros -> constant, reflect -> mirror, replicate -> nearest, circular -> wrap),
strides, dilations and kernel ranks, and prints the largest differences.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

import convcli
from convcli.shapes import padding_amounts

TORCH_MODE = {
    "constant": "constant",
    "mirror": "reflect",
    "nearest": "replicate",
    "wrap": "circular",
}


def torch_loss(y: torch.Tensor, t: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "mse":
        return ((y - t) ** 2).mean()
    if loss == "sse":
        return 0.5 * ((y - t) ** 2).sum()
    if loss == "l1":
        return (y - t).abs().mean()
    return y.sum()


def main() -> None:
    rng = np.random.default_rng(7)
    worst = {"forward": 0.0, "loss": 0.0, "kernel_grad": 0.0, "input_grad": 0.0}
    cases = 0
    for border, loss, stride, dilation, rank, padding in itertools.product(
        TORCH_MODE, ["mse", "sse", "l1", "sum"], [1, 2], [1, 2], [2, 3, 4], ["same", "valid", 1]
    ):
        h, w, c = 13, 17, 3
        x = rng.uniform(0, 1, size=(h, w, c))
        kshape = {2: (3, 4), 3: (c, 3, 3), 4: (2, c, 3, 2)}[rank]
        k = rng.normal(size=kshape)
        try:
            y = convcli.correlate(
                x,
                k,
                padding=padding,
                border=border,
                stride=stride,
                dilation=dilation,
                dtype=np.float64,
            )
        except convcli.ConvCliError:
            continue
        t = rng.uniform(0, 1, size=y.shape)
        res = convcli.loss_and_grad(
            x,
            k,
            t,
            loss=loss,
            padding=padding,
            border=border,
            stride=stride,
            dilation=dilation,
            with_input_grad=True,
        )
        # torch: explicit padding with the same amounts, then a valid conv2d
        kh, kw = kshape[-2:]
        (pt, pb), (pl, pr) = padding_amounts(padding, (kh, kw), dilation=dilation)
        xt = torch.tensor(x.transpose(2, 0, 1)[None], requires_grad=True)
        if rank == 2:
            wt = torch.tensor(np.repeat(k[None, None], c, axis=0), requires_grad=True)
            groups = c
        else:
            k4 = k[None] if rank == 3 else k
            wt = torch.tensor(k4, requires_grad=True)
            groups = 1
        xp = F.pad(xt, (pl, pr, pt, pb), mode=TORCH_MODE[border])
        yt = F.conv2d(xp, wt, stride=stride, dilation=dilation, groups=groups)
        y_np = yt.detach().numpy()[0].transpose(1, 2, 0)
        lt = torch_loss(yt, torch.tensor(t.reshape(y_np.shape).transpose(2, 0, 1)[None]), loss)
        lt.backward()
        gk = wt.grad.numpy()
        gk = gk.sum(axis=0)[0] if rank == 2 else (gk[0] if rank == 3 else gk)
        gx = xt.grad.numpy()[0].transpose(1, 2, 0)
        worst["forward"] = max(worst["forward"], float(np.abs(y.reshape(y_np.shape) - y_np).max()))
        worst["loss"] = max(worst["loss"], abs(res.loss - float(lt.detach())))
        worst["kernel_grad"] = max(worst["kernel_grad"], float(np.abs(res.kernel_grad - gk).max()))
        worst["input_grad"] = max(worst["input_grad"], float(np.abs(res.input_grad - gx).max()))
        cases += 1
    print(f"{cases} cases (borders x losses x strides x dilations x kernel ranks x paddings)")
    for key, value in worst.items():
        print(f"max |convcli - torch| {key:12s} {value:.3g}")


if __name__ == "__main__":
    main()
