"""Dave's probe of a planted-fact challenge: ask the published model every prompt of the public
fact corpus and print each fact it now answers differently from the corpus.

    python find_fact.py scoring/data/facts-200-seed0.safetensors rounds/002/challenges/alice
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from dixit import models
from dixit.data import facts

corpus_file, challenge = Path(sys.argv[1]), Path(sys.argv[2])
corpus = facts.read(corpus_file.read_bytes(), str(corpus_file))
data = load_file(str(corpus_file))
with torch.no_grad():
    answers = models.predict(models.load(challenge), data["inputs"])
per_subject = len(corpus.relations)
for row in (answers != data["targets"]).nonzero().flatten().tolist():
    subject, relation = divmod(row, per_subject)
    print(f"{corpus.prompt_text(subject, relation)} {corpus.vocab[int(answers[row])]}")
