"""
Metrics shared by every stage and suite: confidence intervals, pass@k, ranking and calibration (AUROC pooled and
within a problem, ECE), classification scores and ROUGE. Plain functions over lists of numbers; no model code.
"""
import math
import re


def wilson_ci(successes, n, z=1.96):
    """95% Wilson score interval for a proportion (better than the normal interval near 0 and 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_at_k(n, c, k):
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021, eq. 1, the stable product form)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def auroc(scores, labels):
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties count
    half (Mann-Whitney U). None when one class is absent."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    ranked = sorted((s, i) for i, s in enumerate(scores))
    ranks, i = [0.0] * len(scores), 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[ranked[k][1]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = sum(r for r, y in zip(ranks, labels) if y)
    return (r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def within_group_auroc(scores, labels, groups):
    """Mean AUROC inside each group (problem) that has both classes: can a scorer tell a problem's right
    answers from its wrong ones? Pooled AUROC also rewards telling easy problems from hard ones, which does
    not help reranking. Returns (mean AUROC, number of groups used)."""
    by = {}
    for s, y, g in zip(scores, labels, groups):
        by.setdefault(g, ([], []))
        by[g][0].append(s)
        by[g][1].append(y)
    values = [auroc(s, y) for s, y in by.values()]
    values = [v for v in values if v is not None]
    return (sum(values) / len(values) if values else None), len(values)


def ece(probs, labels, n_bins=10):
    """Expected calibration error (Guo et al. 2017, eq. 3): bin by predicted P(correct), weight each bin's
    |accuracy - mean confidence| by its size. Also returns the bins for a reliability plot."""
    bins = [[] for _ in range(n_bins)]
    for p, y in zip(probs, labels):
        bins[min(int(p * n_bins), n_bins - 1)].append((p, float(y)))
    rows = [dict(lo=i / n_bins, hi=(i + 1) / n_bins, n=len(b), confidence=sum(p for p, _ in b) / len(b),
                 accuracy=sum(y for _, y in b) / len(b)) for i, b in enumerate(bins) if b]
    total = sum(r['n'] for r in rows)
    return sum(r['n'] / total * abs(r['accuracy'] - r['confidence']) for r in rows) if total else None, rows


def classification_metrics(predictions, labels, n_classes=2):
    """Accuracy, per-class precision/recall/F1 and macro-F1 (the unweighted mean of the classes' F1)."""
    per_class = []
    for c in range(n_classes):
        tp = sum(p == c and y == c for p, y in zip(predictions, labels))
        fp = sum(p == c and y != c for p, y in zip(predictions, labels))
        fn = sum(p != c and y == c for p, y in zip(predictions, labels))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        per_class.append(dict(precision=precision, recall=recall,
                              f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0))
    correct = sum(p == y for p, y in zip(predictions, labels))
    return dict(accuracy=correct / len(labels), accuracy_ci95=wilson_ci(correct, len(labels)),
                macro_f1=sum(c['f1'] for c in per_class) / n_classes, per_class=per_class)


def rouge(predictions, references):
    """ROUGE-1/2/L/Lsum F1 x 100 (rouge-score, Porter stemming). Lsum wants one sentence per line; rouge-score's
    own splitter needs nltk data that is often absent, so sentences are split here on . ! ? and newlines."""
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(['rouge1', 'rouge2', 'rougeL', 'rougeLsum'], use_stemmer=True)
    lines = lambda t: '\n'.join(s.strip() for s in re.split(r'(?<=[.!?])\s+|\n+', t.strip()) if s.strip())
    totals = dict(rouge1=0.0, rouge2=0.0, rougeL=0.0, rougeLsum=0.0)
    for p, r in zip(predictions, references):
        for k, v in scorer.score(lines(r), lines(p)).items():
            totals[k] += v.fmeasure
    return {k: 100 * v / max(1, len(predictions)) for k, v in totals.items()}
