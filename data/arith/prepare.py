"""
Synthetic GSM8K-format word problems: the CPU-scale stand-in for GSM8K. Same fields ({"question", "answer"}),
same '<<expr=result>>' calculator annotations, same final '#### N' line. Deterministic by seed.
Difficulty knobs: steps per problem, number range, operations, distractor sentences; wording varies over
several templates per operation so a model cannot solve it by matching one sentence shape.
    python data/arith/prepare.py                          # -> data/arith/{train,val,test}.jsonl
    python data/arith/prepare.py --min_steps=3 --max_steps=4 --distractors=2 --out_dir=data/arith_hard
    python data/arith/prepare.py --wordings=rich --avoid=data/arith --seed=99 --out_dir=data/arith_rich
    python data/arith/prepare.py --wordings=open --avoid=data/arith --seed=98 --out_dir=data/arith_open
    python data/arith/prepare.py --wordings=made_up --avoid=data/arith --seed=97 --out_dir=data/arith_made_up
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import configure  # noqa: E402

out_dir = os.path.dirname(os.path.abspath(__file__))
seed = 1234
n_train = 20000
n_val = 500
n_test = 1000
n_heldout = 500             # test_heldout: problems worded only with the held-out templates
min_steps = 1
max_steps = 4
max_number = 50               # operands are drawn from [2, max_number]
ops = '+-*/'
distractors = 2               # at most this many irrelevant sentences per problem
wordings = 'base'             # 'rich': ~3x the training wordings, openers, same-object distractors (held-out ones stay out);
                              # 'open': rich + open-class names and objects, pronouns after the first mention;
                              # 'made_up': open, with half the names invented and half the objects two-word compounds
avoid = ''                    # data folders (comma-separated) whose questions this draw must not repeat
configure(globals())

NAMES = ['Ava', 'Ben', 'Chloe', 'Dev', 'Elena', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jack', 'Kira', 'Liam', 'Maya',
         'Noah', 'Olga', 'Pablo', 'Quinn', 'Rosa', 'Sam', 'Tara', 'Uma', 'Victor', 'Wen', 'Yusuf', 'Zoe']
THINGS = ['apples', 'marbles', 'stickers', 'books', 'coins', 'shells', 'pencils', 'cookies', 'stamps', 'cards',
          'beads', 'tickets', 'buttons', 'eggs', 'toy cars']
# Each list's LAST wording is held out: it appears only in test_heldout.jsonl, so a score there says whether the
# model reads the question or matches the sentence shapes it was trained on.
STARTS = ['{n} has {a} {t}.', '{n} starts the day with {a} {t}.', 'There are {a} {t} in {n}\'s bag.',
          '{n} collected {a} {t}.', 'At first, {n} owns {a} {t}.', '{n} keeps {a} {t} in a box.',
          'In the morning {n} counts {a} {t}.']
STEPS = {
    '+': ['{n} buys {b} more {t}.', 'A friend gives {n} {b} {t}.', '{n} finds another {b} {t}.',
          '{n} wins {b} {t} at a game.', 'Later, {n} gets {b} extra {t}.', '{n} is handed {b} more {t} by a neighbour.'],
    '-': ['{n} gives away {b} {t}.', '{n} loses {b} {t} on the way home.', '{n} uses {b} of the {t}.',
          '{n} sells {b} {t}.', '{b} of the {t} break and are thrown out.', '{n} donates {b} {t} to the school.'],
    '*': ['{n} ends up with {b} times as many {t}.', 'The number of {t} {n} has is multiplied by {b}.',
          'Each of {n}\'s {t} is swapped for {b} new ones.', '{n} manages to make the pile {b} times bigger.',
          'Every one of the {t} turns into {b} {t}.', '{n}\'s collection of {t} grows to {b} times its size.'],
    '/': ['{n} splits the {t} into {b} equal piles and keeps one pile.',
          '{n} shares the {t} equally among {b} children and keeps one child\'s share.',
          'Only one in every {b} {t} is kept by {n}.', '{n} divides the {t} into {b} equal bags and keeps a single bag.',
          '{n} keeps just 1/{b} of the {t}.', 'The {t} are cut down to one {b}th of what {n} had.'],
}
WORK = {'+': 'After that, {n} has {x}+{b} = <<{x}+{b}={y}>>{y} {t}.',
        '-': 'Then {n} has {x}-{b} = <<{x}-{b}={y}>>{y} {t} left.',
        '*': 'That makes {x}*{b} = <<{x}*{b}={y}>>{y} {t}.',
        '/': 'Each share is {x}/{b} = <<{x}/{b}={y}>>{y} {t}.'}
QUESTIONS = ['How many {t} does {n} have now?', 'How many {t} does {n} end up with?',
             'What is the final number of {t} {n} has?', 'How many {t} are left with {n} at the end?',
             'Count the {t} {n} has in the end.', 'In the end, how many {t} does {n} hold?']
DISTRACTORS = ['{m} has {c} {u}.', 'It rained for {c} minutes that afternoon.', '{m} is {c} years old.',
               'The shop is {c} blocks away.', '{m} buys {c} {u}.', '{n} also has {c} {u}, but they do not count.',
               'The bus ride takes {c} minutes.', '{m} gives {n} {c} {u}.']
# wordings='rich' adds these before each list's held-out last entry. None reuses a held-out sentence's shape or its
# key words ('handed', 'donates', 'collection', 'cut down', 'hold'), so test_heldout stays unseen.
RICH = {
    'start': ['{n} owns {a} {t}.', '{n} began with {a} {t}.', '{n} has a jar of {a} {t}.', 'On Monday, {n} has {a} {t}.',
              '{n} brings {a} {t} to school.', '{n} was given {a} {t} for a birthday.', 'To begin with, {n} has {a} {t}.',
              'Yesterday {n} had {a} {t}.', '{a} {t} belong to {n}.', '{n} puts {a} {t} on the table.',
              '{n}\'s shelf has {a} {t} on it.', 'First, {n} gets {a} {t}.'],
    '+': ['{n} receives {b} {t}.', '{n} picks up {b} more {t}.', '{n} earns {b} {t}.', '{n} adds {b} {t} to the pile.',
          '{n} gets another {b} {t}.', '{b} more {t} are given to {n}.', '{n} brings home {b} {t}.',
          '{n} is given {b} {t} by a teacher.', '{n} makes {b} new {t}.', 'Someone gives {n} {b} extra {t}.',
          '{n} gathers {b} more {t}.', '{n}\'s aunt sends {b} {t}.'],
    '-': ['{n} eats {b} of the {t}.', '{n} drops {b} {t}.', '{n} throws away {b} {t}.', '{n} gives {b} {t} to a friend.',
          '{n} hands out {b} {t}.', '{n} spends {b} of the {t}.', '{b} {t} are taken from {n}.',
          '{n} leaves {b} {t} at the park.', '{n} trades away {b} {t}.', 'A friend takes {b} of {n}\'s {t}.',
          '{n} misplaces {b} {t}.', '{n} lends {b} {t} to a cousin, who keeps them.'],
    '*': ['{n} multiplies the {t} by {b}.', '{n} now has {b} times as many {t} as before.',
          'The pile of {t} becomes {b} times as large.', 'Each one of the {t} is replaced by {b} {t}.',
          'The number of {t} gets {b} times bigger.', 'Now {n}\'s pile of {t} is {b} times the size.',
          '{n} has {b} times the {t} after a good week.', 'Each one of the {t} {n} owns becomes {b} of them.'],
    '/': ['{n} divides the {t} by {b}.', '{n} puts the {t} into {b} equal groups and keeps one group.',
          'The {t} are split equally among {b} boxes and {n} keeps one box.', 'Of every {b} {t}, {n} keeps one.',
          '{n} cuts the pile of {t} into {b} equal parts and keeps one part.',
          'The {t} are shared fairly by {b} people, and {n} keeps one share.',
          '{n} hands the {t} out equally to {b} teams and keeps one team\'s share.'],
    'question': ['How many {t} does {n} have at the end?', 'How many {t} remain with {n}?',
                 'What is the number of {t} {n} has now?', 'Find how many {t} {n} has.',
                 'After all that, how many {t} does {n} have?', 'How many {t} does {n} own now?',
                 'Tell how many {t} {n} ends with.', 'At the end, what number of {t} does {n} have?'],
    'distractor': ['{m} has {c} {t} too, but they are not {n}\'s.', '{m} buys {c} {t} for a friend.',
                   '{n}\'s school has {c} classrooms.', 'The game lasts {c} minutes.', '{m} finds {c} {t} and keeps them.',
                   '{n} walks {c} steps to the door.', '{m} once had {c} {t}.'],
    'opener': ['Then ', 'Later, ', 'Next, ', 'After lunch, ', 'On the way home, ', 'That evening, ', 'After a while, '],
}
# wordings='open' adds what a closed list of 25 names and 15 objects cannot teach: to copy whatever name and object
# the question uses (a model trained on the lists writes one of its own names for a new one), and pronouns.
OPEN = {
    'she': ['Amara', 'Beatriz', 'Camille', 'Daria', 'Esme', 'Fatima', 'Greta', 'Hana', 'Isla', 'Juno', 'Keiko', 'Lena',
            'Mina', 'Nadia', 'Opal', 'Petra', 'Rania', 'Sofia', 'Talia', 'Vera', 'Willa', 'Ximena', 'Yara', 'Zainab'],
    'he': ['Arjun', 'Bruno', 'Caleb', 'Diego', 'Emil', 'Felix', 'Gideon', 'Hamid', 'Ivan', 'Jonas', 'Kofi', 'Luca',
           'Marco', 'Nils', 'Omar', 'Pedro', 'Rafael', 'Soren', 'Tomas', 'Umar', 'Viktor', 'Wyatt', 'Yosef', 'Zane'],
    'title_she': ['Mrs.', 'Ms.', 'Miss', 'Aunt', 'Grandma'], 'title_he': ['Mr.', 'Uncle', 'Grandpa'],
    'surname': ['Alvarez', 'Bianchi', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Horvat', 'Iyer', 'Jansen',
                'Kowalski', 'Larsen', 'Moreau', 'Nakamura', 'Olsen', 'Petrov', 'Quinto', 'Rossi', 'Sato', 'Tanaka',
                'Varga', 'Weber', 'Yilmaz', 'Zhou'],
    'things': ['pebbles', 'ribbons', 'magnets', 'acorns', 'paper boats', 'bags of rice', 'boxes of tea', 'kites',
               'lemons', 'batteries', 'spoons', 'puzzles', 'balloons', 'glass jars', 'seashells', 'notebooks', 'plums',
               'trading cards', 'flower pots', 'tennis balls', 'hair clips', 'toy trains', 'cupcakes', 'keys'],
}


# wordings='made_up': names and objects no list holds, so that the only way to write them is to copy them from the
# question: invented names of 2-3 syllables (~40,000) and objects as an adjective and a noun (~1,000)
SYLLABLES = [c + v for c in 'bdfgklmnprstvz' for v in 'aeiou'] + ['ra', 'lo', 'ni', 'ta', 'shi', 'chen', 'dor', 'wyn']
ADJECTIVES = ['red', 'blue', 'green', 'tiny', 'striped', 'wooden', 'silver', 'paper', 'spotted', 'golden', 'plastic',
              'woolly', 'shiny', 'round', 'old', 'purple', 'orange', 'glass', 'square', 'clay']
NOUNS = ['bricks', 'feathers', 'buckets', 'candles', 'combs', 'cups', 'dice', 'forks', 'gloves', 'hats', 'jars', 'kites',
         'ladders', 'mugs', 'nails', 'owls', 'pins', 'rings', 'socks', 'tiles', 'tokens', 'wheels', 'whistles', 'yo-yos',
         'bells', 'bottles', 'bowls', 'brushes', 'crayons', 'drums', 'fans', 'flags', 'frogs', 'hooks', 'lamps', 'masks',
         'nuts', 'pots', 'robots', 'stars', 'straws', 'tents', 'tubes', 'vases', 'boats', 'cubes', 'dolls', 'leaves',
         'ropes', 'shoes']


def made_up_name(rng):
    return ''.join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def open_person(rng):
    """(name, pronoun, possessive) for wordings='open': a first name, or a title and a surname (made_up: half of
    them invented)."""
    p = rng.choice(('she', 'he'))
    first = lambda: made_up_name(rng) if wordings == 'made_up' and rng.random() < 0.5 else rng.choice(OPEN[p])
    last = lambda: made_up_name(rng) if wordings == 'made_up' and rng.random() < 0.5 else rng.choice(OPEN['surname'])
    name = first() if rng.random() < 0.5 else f"{rng.choice(OPEN['title_' + p])} {last()}"
    return name, p, {'she': 'her', 'he': 'his'}[p]


def made_up_things(rng):
    """Two different objects for wordings='made_up': each an adjective and a noun half the time, else an open one."""
    pool = lambda: (f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}" if rng.random() < 0.5
                    else rng.choice(THINGS + OPEN['things']))
    t, u = pool(), pool()
    while u == t:
        u = pool()
    return t, u


if wordings != 'base':  # the held-out wording stays each list's last entry
    for options, extra in ((STARTS, RICH['start']), (QUESTIONS, RICH['question']), *((STEPS[o], RICH[o]) for o in ops)):
        options[-1:-1] = extra
    DISTRACTORS += RICH['distractor']


def make_problem(rng, heldout=False):
    """One problem: a start, steps (op, operand), distractors shuffled in, the question. Wordings come from the
    training lists, or (heldout) only from each list's last, held-out entry."""
    pick = (lambda options: options[-1]) if heldout else (lambda options: rng.choice(options[:-1]))
    if wordings in ('open', 'made_up'):
        (n, pron, poss), m = open_person(rng), open_person(rng)[0]
        t, u = rng.sample(THINGS + OPEN['things'], 2) if wordings == 'open' else made_up_things(rng)
    else:
        n, t = rng.choice(NAMES), rng.choice(THINGS)
        m, u = rng.choice([x for x in NAMES if x != n]), rng.choice([x for x in THINGS if x != t])
    x = rng.randint(2, max_number)
    question, work = [pick(STARTS).format(n=n, a=x, t=t)], [f'{n} starts with {x} {t}.']
    for _ in range(rng.randint(min_steps, max_steps)):
        choices = [o for o in ops if not (o == '-' and x <= 2) and not (o == '*' and x * 2 > 10 * max_number)]
        choices = [o for o in choices if o != '/' or any(x % b == 0 for b in range(2, min(x, max_number) + 1))]
        op = rng.choice(choices)
        if op == '/':
            b = rng.choice([b for b in range(2, min(x, max_number) + 1) if x % b == 0])
            y = x // b
        elif op == '*':
            b = rng.randint(2, max(2, min(9, 10 * max_number // x)))
            y = x * b
        elif op == '-':
            b = rng.randint(1, x - 1)
            y = x - b
        else:
            b = rng.randint(2, max_number)
            y = x + b
        sentence = pick(STEPS[op]).format(n=n, b=b, t=t)
        if wordings in ('open', 'made_up') and rng.random() < 0.4:  # 'She sells 3 kites.', 'Her pile of kites ...'
            sentence = (pron.capitalize() + sentence[len(n):] if sentence.startswith(n + ' ') else
                        poss.capitalize() + sentence[len(n) + 2:] if sentence.startswith(n + "'s ") else sentence)
        if wordings != 'base' and not heldout and sentence.startswith(n) and rng.random() < 0.3:
            sentence = rng.choice(RICH['opener']) + sentence
        question.append(sentence)
        work.append(WORK[op].format(n=n, x=x, b=b, y=y, t=t))
        x = y
    for _ in range(rng.randint(0, distractors)):  # irrelevant numbers anywhere after the start (rich: or before it)
        question.insert(rng.randint(int(wordings == 'base'), len(question)),
                        rng.choice(DISTRACTORS).format(m=m, n=n, c=rng.randint(2, 60), u=u, t=t))
    q = pick(QUESTIONS).format(n=n, t=t)
    question = [q] + question if rng.random() < 0.2 else question + [q]  # the question first, sometimes
    return {'question': ' '.join(question), 'answer': '\n'.join(work) + f'\n#### {x}'}


if __name__ == '__main__':
    rng = random.Random(seed)
    seen, splits = set(), {}
    for path in [os.path.join(d, f'{s}.jsonl') for d in avoid.split(',') if d for s in ('train', 'val', 'test', 'test_heldout')]:
        seen |= {json.loads(line)['question'] for line in open(path)} if os.path.exists(path) else set()
    for split, count in (('test', n_test), ('test_heldout', n_heldout), ('val', n_val), ('train', n_train)):  # tests first
        rows = []
        while len(rows) < count:
            p = make_problem(rng, heldout=split == 'test_heldout')
            if p['question'] not in seen:  # no question appears in two splits
                seen.add(p['question'])
                rows.append(p)
        splits[split] = rows
    os.makedirs(out_dir, exist_ok=True)
    for split, rows in splits.items():
        with open(os.path.join(out_dir, f'{split}.jsonl'), 'w') as f:
            f.writelines(json.dumps(r) + '\n' for r in rows)
        print(f"{split}: {len(rows)} problems -> {out_dir}/{split}.jsonl")
    print("example:\n" + json.dumps(next(rows[0] for rows in splits.values() if rows), indent=1))
