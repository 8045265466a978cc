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


def rouge(predictions, references, per_item=False):
    """ROUGE-1/2/L/Lsum F1 x 100 (rouge-score, Porter stemming). Lsum wants one sentence per line; rouge-score's
    own splitter needs nltk data that is often absent, so sentences are split here on . ! ? and newlines.
    per_item: also return each item's scores ({metric: [score per item]}), for bootstrap CIs and paired tests."""
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(['rouge1', 'rouge2', 'rougeL', 'rougeLsum'], use_stemmer=True)
    lines = lambda t: '\n'.join(s.strip() for s in re.split(r'(?<=[.!?])\s+|\n+', t.strip()) if s.strip())
    items = dict(rouge1=[], rouge2=[], rougeL=[], rougeLsum=[])
    for p, r in zip(predictions, references):
        for k, v in scorer.score(lines(r), lines(p)).items():
            items[k].append(100 * v.fmeasure)
    means = {k: sum(v) / max(1, len(v)) for k, v in items.items()}
    return (means, items) if per_item else means


def vote(answers, weights):
    """Index of the sample to answer with: the answer with the largest total weight wins (weights 1 =
    self-consistency, Wang et al. 2022; verifier scores = weighted vote, Li et al. 2023), ties going to the
    answer seen first; returns its first sample. None answers (no '####') do not vote; all None -> 0."""
    totals = {}
    for a, w in zip(answers, weights):
        if a is not None:
            totals[a] = totals.get(a, 0.0) + w
    if not totals:
        return 0
    best = max(totals, key=lambda a: totals[a])  # max keeps the first of equal totals: dicts keep insertion order
    return answers.index(best)


def pick(strategy, answers, scores):
    """Index of the sample a test-time strategy answers with, among one problem's samples (their final answers
    and verifier scores): best_of_n = the highest score (Cobbe et al. 2021), first of equals; weighted_vote = the
    answer whose samples' scores sum highest; self_consistency = the most frequent answer (scores unused)."""
    if strategy == 'best_of_n':
        return max(range(len(scores)), key=scores.__getitem__)
    if strategy not in ('weighted_vote', 'self_consistency'):
        raise ValueError(f"unknown strategy '{strategy}'")
    return vote(answers, scores if strategy == 'weighted_vote' else [1.0] * len(answers))


# -----------------------------------------------------------------------------
# Paired comparisons: two systems scored on the same items. Pairing removes the items' own variance (an easy
# problem is easy for both), so a real difference shows with far fewer items than comparing two CIs would need.

def mcnemar_exact(a, b):
    """Exact McNemar test (McNemar 1947, binomial form) for right/wrong outcomes of systems a and b on the same
    items. Only discordant items carry information: under H0 (equal accuracy) the count of items only b gets
    right is Binomial(n_discordant, 1/2). Two-sided p = min(1, 2 P(X <= min(a_only, b_only)))."""
    a_only = sum(1 for x, y in zip(a, b) if x and not y)
    b_only = sum(1 for x, y in zip(a, b) if y and not x)
    m, k = a_only + b_only, min(a_only, b_only)
    p = 1.0 if m == 0 else min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2 ** m)
    return dict(a_only=a_only, b_only=b_only, p=p)


def bootstrap_ci(x, n_boot=10_000, seed=0):
    """95% percentile bootstrap CI of a mean (ROUGE, per-item NLL: scores without a closed-form interval)."""
    import numpy as np
    x = np.asarray(x, dtype=np.float64)
    means = x[np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired_bootstrap(a, b, n_boot=10_000, seed=0):
    """Paired bootstrap (Efron & Tibshirani 1993; Koehn 2004 for NLP) of mean(b) - mean(a) over the same items:
    resample items with replacement, keeping each item's pair together. Returns the 95% percentile CI of the
    difference and a two-sided p = min(1, 2 (k + 1) / (n_boot + 1)), k = min(#{d* <= 0}, #{d* >= 0}): the add-one
    form (Davison & Hinkley 1997, eq. 4.11), so that no finite number of resamples reports p = 0."""
    import numpy as np
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    idx = np.random.default_rng(seed).integers(0, len(a), size=(n_boot, len(a)))
    d = b[idx].mean(axis=1) - a[idx].mean(axis=1)
    p = min(1.0, 2 * (min((d <= 0).sum(), (d >= 0).sum()) + 1) / (n_boot + 1))
    return dict(delta_ci95=(float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))), p=float(p))


def paired_speed_ratio(times_a, times_b):
    """tok/s of a over b from step times taken in the same rounds: the geometric mean of the per-round ratios
    t_b / t_a, with the paired bootstrap's 95% CI and p-value (paired_bootstrap on log step times; p tests
    ratio = 1). Pairing by round cancels the machine's drift, which moves both steps of a round alike."""
    import math
    log_a, log_b = [math.log(t) for t in times_a], [math.log(t) for t in times_b]
    boot = paired_bootstrap(log_a, log_b)
    return dict(ratio=math.exp((sum(log_b) - sum(log_a)) / len(log_a)), rounds=len(log_a),
                ci95=tuple(math.exp(d) for d in boot['delta_ci95']), p=boot['p'])


def paired_test(a, b, n_boot=10_000, seed=0, binary=None):
    """The one comparison of two systems on the same items that every stage, strategy and suite reports: b - a.
    Right/wrong outcomes get the exact McNemar p-value and Wilson CIs; other scores (ROUGE, per-item NLL) the
    paired bootstrap's p-value and bootstrap CIs of each mean. The difference always gets its paired-bootstrap CI.
    binary: None = right/wrong when every score is 0 or 1; say False for scores that only happen to be (ROUGE 0)."""
    if len(a) != len(b) or not len(a):
        raise ValueError(f"paired_test needs two equally long, non-empty score lists (got {len(a)} and {len(b)})")
    n = len(a)
    boot = paired_bootstrap(a, b, n_boot, seed)
    row = dict(n=n, a_mean=sum(a) / n, b_mean=sum(b) / n, delta=(sum(b) - sum(a)) / n, delta_ci95=boot['delta_ci95'])
    if binary if binary is not None else all(x in (0, 1, True, False) for x in list(a) + list(b)):
        mc = mcnemar_exact(a, b)
        row.update(test='mcnemar_exact', p=mc['p'], a_only=mc['a_only'], b_only=mc['b_only'],
                   a_ci95=wilson_ci(sum(a), n), b_ci95=wilson_ci(sum(b), n))
    else:
        row.update(test='paired_bootstrap', p=boot['p'], a_ci95=bootstrap_ci(a, n_boot, seed),
                   b_ci95=bootstrap_ci(b, n_boot, seed))
    return row


def t_cdf(x, df):
    """Student's t CDF with df degrees of freedom, by Simpson's rule on its density (no scipy): enough for
    the handful of seeds a paired t-test sees."""
    import numpy as np
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    t = np.linspace(0.0, abs(x), 4001)
    f = c * (1 + t ** 2 / df) ** (-(df + 1) / 2)
    h = (t[1] - t[0]) if abs(x) > 0 else 0.0
    area = h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    return 0.5 + math.copysign(float(area), x)


def paired_t(a, b):
    """Paired t-test (Student 1908) of mean(b - a) over matched units too few for a bootstrap (the seeds of an
    ablation: unit i of a and of b share the seed, so init and batch order cancel). Returns the mean difference,
    its 95% CI mean +- t(0.975, n-1) sd/sqrt(n), and the two-sided p."""
    d = [y - x for x, y in zip(a, b)]
    n = len(d)
    if n < 2 or len(a) != len(b):
        raise ValueError(f"paired_t needs two equally long lists of at least 2 (got {len(a)} and {len(b)})")
    mean = sum(d) / n
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1) / n)
    lo, hi = 0.0, 1000.0  # the 0.975 quantile by bisection
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, n - 1) < 0.975 else (lo, mid)
    p = 1.0 if se == 0 and mean == 0 else 0.0 if se == 0 else 2 * (1 - t_cdf(abs(mean) / se, n - 1))
    return dict(n=n, delta=mean, delta_ci95=(mean - lo * se, mean + lo * se), p=min(1.0, max(0.0, p)), test='paired_t')

