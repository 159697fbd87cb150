#!/bin/bash -eu
# Builds every cargo-fuzz target of fuzz/ with the engine's flags and puts
# the binaries and their seed corpora (fuzz/seeds/<target>/, zipped as
# <target>_seed_corpus.zip) where ClusterFuzzLite and OSS-Fuzz look: $OUT.
cd "$SRC/mppconf/fuzz"
cargo fuzz build -O
for target in challenge credential receipt accept_payment discovery mcp method_rules session_voucher session_event evm_charge stellar_transaction solana_transaction tempo_subscription; do
  cp "target/x86_64-unknown-linux-gnu/release/$target" "$OUT/"
  if [ -d "seeds/$target" ]; then
    (cd "seeds/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
  fi
done
