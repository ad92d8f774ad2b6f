#!/usr/bin/python3
"""Writes tests/data/optim/adamw.txt: torch.optim.AdamW's steps on fixed parameters and gradients.

The fixture holds the initial parameters, the gradient of every step and the parameters after
each step, in the "name dims : values" format of tests/fixtures.hpp. Run with Debian's
python3-torch from the repository root: python3 tools/make_optim_fixtures.py
"""
import torch

STEPS, N = 6, 37
LR, WD, BETAS, EPS = 0.05, 0.1, (0.9, 0.99), 1e-7


def line(name, t):
    dims = " ".join(str(d) for d in t.shape)
    vals = " ".join(repr(float(v)) for v in t.flatten().tolist())
    return f"{name} {dims} : {vals}\n"


def main():
    g = torch.Generator().manual_seed(2019)
    p = (torch.rand(N, generator=g) * 2 - 1).requires_grad_()
    grads = [torch.rand(N, generator=g) * 2 - 1 for _ in range(STEPS)]
    opt = torch.optim.AdamW([p], lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    out = [f"# torch {torch.__version__}; AdamW(lr={LR}, betas={BETAS}, eps={EPS}, "
           f"weight_decay={WD}); {STEPS} steps on {N} parameters; float32\n",
           line("params", p.detach())]
    for k, gr in enumerate(grads):
        p.grad = gr.clone()
        opt.step()
        out.append(line(f"grad{k}", gr))
        out.append(line(f"after{k}", p.detach()))
    with open("tests/data/optim/adamw.txt", "w") as f:
        f.writelines(out)


if __name__ == "__main__":
    main()
