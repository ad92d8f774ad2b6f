#!/usr/bin/python3
"""Writes tests/data/regression/mse_step.txt: one SGD step of a small Dense net with MSELoss.

The network is Linear(5, 7) -> Tanh -> Linear(7, 3) on a batch of 6 samples with real-valued
targets (3 per sample). The fixture holds the parameters in ctnn's order (each Dense layer's
weights as [inputs][outputs], i.e. Linear.weight transposed, then its bias), the inputs, the
targets, the loss (MSELoss, mean over the 6 x 3 values), the gradient and the parameters after
torch.optim.SGD(lr=LR).step(), in the "name dims : values" format of tests/fixtures.hpp. Run with
Debian's python3-torch from the repository root: python3 tools/make_regression_fixtures.py
"""
import torch

B, K, H, N = 6, 5, 7, 3
LR = 0.1


def line(name, t):
    dims = " ".join(str(d) for d in t.shape)
    vals = " ".join(repr(float(v)) for v in t.flatten().tolist())
    return f"{name} {dims} : {vals}\n"


def ctnn_order(layers, attr):
    parts = []
    for lin in layers:
        w, b = getattr(lin.weight, attr), getattr(lin.bias, attr)
        parts += [w.detach().t().flatten(), b.detach().flatten()]
    return torch.cat(parts)


def main():
    torch.manual_seed(2024)
    l1, l2 = torch.nn.Linear(K, H), torch.nn.Linear(H, N)
    net = torch.nn.Sequential(l1, torch.nn.Tanh(), l2)
    x = torch.rand(B, K) * 2 - 1
    t = torch.rand(B, N) * 4 - 2
    before = ctnn_order([l1, l2], "data")
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    opt.zero_grad()
    loss = torch.nn.MSELoss()(net(x), t)
    loss.backward()
    grad = ctnn_order([l1, l2], "grad")
    opt.step()
    after = ctnn_order([l1, l2], "data")
    with open("tests/data/regression/mse_step.txt", "w") as f:
        f.write(f"# torch {torch.__version__}; Linear({K}, {H}) -> Tanh -> Linear({H}, {N}); "
                f"MSELoss; SGD(lr={LR}); batch {B}; float32\n")
        for name, v in [("params", before), ("inputs", x), ("targets", t),
                        ("loss", loss.detach().reshape(1)), ("grad", grad), ("after", after)]:
            f.write(line(name, v))


if __name__ == "__main__":
    main()
