"""
A second, separately written generator of the same kind of problem (one running quantity, + - * /), for testing
only: no sentence, name or object of data/arith/prepare.py, pronouns instead of repeated names, places and
deliveries as well as people, numbers of the same range. A model that learned to read the question scores about
as well here as on data/arith's test set; one that learned data/arith's sentence shapes does not.
Same fields and answer format as data/arith ('<<expr=result>>' steps, a final '#### N'), so the same scorers apply.
    python data/arith_other/prepare.py            # -> data/arith_other/test.jsonl (500 problems)
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import configure  # noqa: E402

out_dir = os.path.dirname(os.path.abspath(__file__))
seed = 2027
n_test = 500
min_steps = 1
max_steps = 3
max_number = 50               # operands are drawn from [2, max_number], as in data/arith
configure(globals())

OWNERS = [('Mrs. Lopez', 'she', 'her'), ('Mr. Okafor', 'he', 'his'), ('Aunt Priya', 'she', 'her'),
          ('Coach Brandt', 'he', 'his'), ('Grandma Ito', 'she', 'her'), ('Uncle Mateo', 'he', 'his'),
          ('Ms. Novak', 'she', 'her'), ('Dr. Haddad', 'he', 'his')]
ITEMS = ['muffins', 'jars of jam', 'seed packets', 'bottles of water', 'paper cranes', 'crayons', 'oranges',
         'postcards', 'bolts', 'candles']
OPENING = ['{o} gets {a} {i} ready for the fair.', '{o} orders {a} {i} for the club.',
           'The storeroom of {o} holds {a} {i}.', '{o} sets out {a} {i} on a long table.',
           '{O2} shelf has {a} {i} on it.']
# one sentence per op and style; {p} is the pronoun ('she'/'he'), {P} capitalised
STEP = {
    '+': ['A delivery brings {b} more {i}.', '{P} makes {b} more {i} in the evening.',
          'Neighbours drop off another {b} {i}.', '{P} orders {b} extra {i} online.'],
    '-': ['{P} sells {b} of them at the fair.', 'By noon, {b} of the {i} are gone.',
          '{P} packs {b} {i} into a gift box and sends it away.', 'Visitors take home {b} {i}.'],
    '*': ['By the weekend {p} has {b} times that many.', 'The stock of {i} is made {b} times larger.',
          '{P} repeats the order until there are {b} times as many {i}.'],
    '/': ['{P} splits them evenly into {b} crates and keeps only one crate.',
          'Only a {b}-way share of the {i} stays; the rest are given out.',
          '{P} divides them fairly among {b} classes and keeps one class\'s part.'],
}
NOISE = ['The fair opens at {c} in the morning.', 'A crate weighs {c} kilograms.',
         '{P} has lived on the street for {c} years.', 'The hall has {c} chairs, which nobody moves.']
ASK = ['How many {i} are there now?', 'How many {i} does {o} have left?', 'What number of {i} remain at the end?']


def make_problem(rng):
    (o, p, poss), i = rng.choice(OWNERS), rng.choice(ITEMS)
    fill = dict(o=o, O2=f"{o}'s", p=p, P=p.capitalize(), i=i)
    x = rng.randint(2, max_number)
    text, work = [rng.choice(OPENING).format(a=x, **fill)], [f'{o} starts with {x} {i}.']
    for _ in range(rng.randint(min_steps, max_steps)):
        divisors = [b for b in range(2, min(x, max_number) + 1) if x % b == 0]
        op = rng.choice([c for c in '+-*/' if (c != '-' or x > 2) and (c != '*' or x * 2 <= 10 * max_number)
                         and (c != '/' or divisors)])
        b = {'+': lambda: rng.randint(2, max_number), '-': lambda: rng.randint(1, x - 1),
             '*': lambda: rng.randint(2, max(2, min(9, 10 * max_number // x))), '/': lambda: rng.choice(divisors)}[op]()
        y = {'+': x + b, '-': x - b, '*': x * b, '/': x // b}[op]
        text.append(rng.choice(STEP[op]).format(b=b, **fill))
        work.append(f'{x}{op}{b} = <<{x}{op}{b}={y}>>{y} {i}.')
        x = y
    if rng.random() < 0.5:
        text.insert(rng.randint(1, len(text)), rng.choice(NOISE).format(c=rng.randint(2, 60), **fill))
    text.append(rng.choice(ASK).format(**fill))
    return {'question': ' '.join(text), 'answer': '\n'.join(work) + f'\n#### {x}'}


if __name__ == '__main__':
    rng, rows, seen = random.Random(seed), [], set()
    while len(rows) < n_test:
        row = make_problem(rng)
        if row['question'] not in seen:
            seen.add(row['question'])
            rows.append(row)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'test.jsonl'), 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in rows)
    print(f"test: {len(rows)} problems -> {out_dir}/test.jsonl\nexample:\n" + json.dumps(rows[0], indent=1))
