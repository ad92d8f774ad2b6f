"""PyTorch models for tests/converter/test_converter.py: the networks converted (each function
returns an nn.Module in eval mode with seeded weights and non-trivial BatchNorm statistics) and
the modules the converter must refuse."""

import torch
import torch.nn.functional as F
from torch import nn


def _ready(model, seed=0):
    torch.manual_seed(seed)
    for m in model.modules():
        for p in m.parameters(recurse=False):
            with torch.no_grad():
                p.uniform_(-0.5, 0.5)
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


# --- converted ------------------------------------------------------------------------------
def cnn():
    """Conv2d with Same-equivalent padding, BatchNorm2d, pools, Flatten, BatchNorm1d after
    Linear, Dropout and Softmax: [B, 2, 10, 10]."""
    return _ready(nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3), nn.Tanh(), nn.AvgPool2d(3), nn.Flatten(), nn.Linear(8, 12),
        nn.BatchNorm1d(12), nn.Sigmoid(), nn.Dropout(0.25), nn.Linear(12, 5), nn.Softmax(dim=1)))


class Lstm(nn.Module):
    """LSTM over [B, 7, 5], its last step, Linear."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(5, 8, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


def lstm():
    return _ready(Lstm())


class Crnn(nn.Module):
    """Conv2d, ReLU, MaxPool2d; the NCHW map permuted and reshaped into rows; LSTM; h_n[-1]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.pool = nn.MaxPool2d(2)
        self.rnn = nn.LSTM(4 * 4, 6, batch_first=True)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):  # [B, 1, 10, 10]
        y = self.pool(F.relu(self.conv(x)))  # [B, 4, 4, 4]
        b, c, h, w = y.shape
        y = y.permute(0, 2, 3, 1).reshape(b, h, w * c)
        _, (h_n, _) = self.rnn(y)
        return self.fc(h_n[-1])


def crnn():
    return _ready(Crnn())


class StackedBi(nn.Module):
    """A stacked bidirectional LSTM read through h_n, beside a bidirectional GRU whose sequence
    feeds an RNN: [B, 6, 4]."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.fc(torch.cat([h[-2], h[-1]], 1))


def stacked_bi():
    return _ready(StackedBi())


class GruRnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 5, batch_first=True, bidirectional=True)
        self.rnn = nn.RNN(10, 6, num_layers=2, batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        s, _ = self.gru(x)
        out, _ = self.rnn(s)
        return self.fc(out[:, -1])


def gru_rnn():
    return _ready(GruRnn())


class Inception(nn.Module):
    """Branches joined along channels by torch.cat in forward(), global average pooling by
    mean, then Linear: [B, 3, 8, 8]."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Conv2d(2, 3, 3, padding=1))
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        y = torch.cat([self.a(x), self.b(x), x], dim=1)
        y = F.relu(y)
        return self.fc(self.pool(y).mean(dim=(2, 3)))


def concat():
    return _ready(Inception())


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                      nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    """torchvision-style basic blocks; with stride 2 its 3x3 convolutions pad 1 on an even size,
    which only ctnn::Pad<1> computes exactly."""

    def __init__(self, strides):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        blocks, c = [], 4
        for s in strides:
            blocks.append(Block(c, c * s, s))
            c *= s
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


def resnet_same():
    """Stride-1 blocks and a projection shortcut: Same padding only."""
    return _ready(ResNet([1, 1]))


def resnet():
    """A stride-2 block: needs ctnn::Pad."""
    return _ready(ResNet([1, 2]))


def pad_pool():
    """Zero-padded max and average pooling: needs ctnn::Pad."""
    return _ready(nn.Sequential(nn.Conv2d(1, 3, 3), nn.MaxPool2d(3, 2, padding=1),
                                nn.AvgPool2d(2, 2, padding=1), nn.Flatten(), nn.Linear(27, 2)))


# --- refused ---------------------------------------------------------------------------------
def ceil_pool():
    return _ready(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, ceil_mode=True)))


def dilated():
    return _ready(nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)))


def grouped():
    return _ready(nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)))


def reflect():
    return _ready(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")))


def rect_kernel():
    return _ready(nn.Sequential(nn.Conv2d(1, 2, (3, 1))))


def avg_exclude_pad():
    return _ready(nn.Sequential(nn.AvgPool2d(2, padding=1, count_include_pad=False)))


def leaky():
    return _ready(nn.Sequential(nn.Conv2d(1, 2, 3), nn.LeakyReLU()))


class _RnnUse(nn.Module):
    def __init__(self, use, **kw):
        super().__init__()
        self.use = use
        self.rnn = nn.LSTM(5, 4, **kw)

    def forward(self, x):
        out, (h, c) = self.rnn(x)
        if self.use == "c":
            return c[-1]
        if self.use == "both":
            return out[:, -1] + out.sum(1)
        return out[:, -1]


def proj_lstm():
    return _ready(_RnnUse("out", batch_first=True, proj_size=2))


def time_major():
    return _ready(_RnnUse("out"))


def cell_state():
    return _ready(_RnnUse("c", batch_first=True))


def bi_last_step():
    return _ready(_RnnUse("out", batch_first=True, bidirectional=True))


class _Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) * 2


def scaled():
    return _ready(_Scaled())


class _LinearOnImage(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):  # [B, 1, 6, 6]: Linear over the last axis
        return self.fc(x)


def linear_on_image():
    return _ready(_LinearOnImage())


class _WidthRows(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(6, 3, batch_first=True)

    def forward(self, x):  # [B, 1, 6, 6] read column by column
        out, _ = self.rnn(x.permute(0, 3, 1, 2).reshape(x.shape[0], 6, 6))
        return out[:, -1]


def width_rows():
    return _ready(_WidthRows())


def no_running_stats():
    return _ready(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, track_running_stats=False)))


def relu_rnn():
    return _ready(_ReluRnn())


class _ReluRnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(5, 4, batch_first=True, nonlinearity="relu")

    def forward(self, x):
        return self.rnn(x)[0][:, -1]


class _Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        return y + y


def twice():
    return _ready(_Twice())


def not_a_module():
    return 42
