#!/usr/bin/python3
"""Draws training curves and a confusion matrix as PNG files.

  plot_history.py HISTORY.csv [--confusion CONFUSION.csv] [--title TEXT] --out PREFIX

HISTORY.csv is what the examples write with --history (or ctnn::HistoryCsv): columns epoch,
learning_rate, loss, train_accuracy, test_loss, test_accuracy, seconds, images_per_second.
CONFUSION.csv is what --confusion (ctnn::confusion_csv) writes. The pictures go to
PREFIX-curves.png (loss, accuracy and learning rate per epoch) and PREFIX-confusion.png.
Needs Debian's python3-matplotlib.
"""
import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_history(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"plot_history.py: {path} has no epochs")
    need = {"epoch", "learning_rate", "loss", "train_accuracy", "test_loss", "test_accuracy"}
    missing = need - set(rows[0])
    if missing:
        sys.exit(f"plot_history.py: {path} lacks the columns {', '.join(sorted(missing))}")

    def column(name):
        return [float(r[name]) if r[name] != "" else float("nan") for r in rows]

    return {k: column(k) for k in need}


def read_confusion(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0][1:-1]
    counts = [[int(x) for x in r[1:-1]] for r in rows[1:]]
    if len(counts) != len(names) or any(len(r) != len(names) for r in counts):
        sys.exit(f"plot_history.py: {path} is not a square confusion matrix")
    return names, counts


def plot_curves(h, title, out):
    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=(13, 3.8))
    e = h["epoch"]
    ax_loss.plot(e, h["loss"], "o-", label="training")
    ax_loss.plot(e, h["test_loss"], "s-", label="test / validation")
    ax_loss.set_title("loss")
    ax_acc.plot(e, h["train_accuracy"], "o-", label="training")
    ax_acc.plot(e, h["test_accuracy"], "s-", label="test / validation")
    ax_acc.set_title("accuracy")
    ax_lr.plot(e, h["learning_rate"], "o-", color="tab:green")
    ax_lr.set_title("learning rate (last step of the epoch)")
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    ax_loss.legend()
    ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def plot_confusion(names, counts, title, out):
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * n, 0.8 + 0.55 * n))
    ax.imshow(counts, cmap="Blues")
    top = max(max(r) for r in counts) or 1
    for i in range(n):
        for j in range(n):
            ax.text(j, i, counts[i][j], ha="center", va="center", fontsize=8,
                    color="white" if counts[i][j] > top / 2 else "black")
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), [f"{name} ({counts[i][i] / max(1, sum(counts[i])):.3f})"
                             for i, name in enumerate(names)], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true class (its accuracy)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("history")
    ap.add_argument("--confusion")
    ap.add_argument("--title", default="")
    ap.add_argument("--out", required=True, help="prefix of the PNG files")
    a = ap.parse_args()
    plot_curves(read_history(a.history), a.title, a.out + "-curves.png")
    print(a.out + "-curves.png")
    if a.confusion:
        names, counts = read_confusion(a.confusion)
        plot_confusion(names, counts, a.title, a.out + "-confusion.png")
        print(a.out + "-confusion.png")


if __name__ == "__main__":
    main()
