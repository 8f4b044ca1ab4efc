#!/usr/bin/env python3
"""A multi-label data set built from AG News (../shared/data/ag_news_csv): each row is the titles of
one, two or three news items of different topics joined into one text, labelled with every topic it
holds (`World;Sports`). Half the rows hold one item, a third two, the rest three; the items are drawn
without replacement with a fixed seed, so the file is the same on every machine.

    python3 scripts/make-multilabel.py SOURCE.csv OUT.tsv ROWS SEED
"""
import csv
import random
import sys

NAMES = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}

src, out, rows, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
by_class = {c: [] for c in NAMES}
with open(src, newline="", encoding="utf-8") as f:
    for cls, title, _desc in csv.reader(f):
        by_class[cls].append(" ".join(title.split()))
for items in by_class.values():
    rng.shuffle(items)
with open(out + ".tmp", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, delimiter="\t", lineterminator="\n")
    w.writerow(["id", "text", "label"])
    for i in range(rows):
        k = 1 if i % 6 < 3 else (2 if i % 6 < 5 else 3)
        classes = sorted(rng.sample(sorted(NAMES), k))
        titles = [by_class[c].pop() for c in classes]
        order = list(range(k))
        rng.shuffle(order)
        text = " | ".join(titles[j] for j in order)
        w.writerow([i + 1, text, ";".join(NAMES[c] for c in classes)])
import os
os.replace(out + ".tmp", out)
