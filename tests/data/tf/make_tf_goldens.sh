#!/bin/sh
# ORT outputs for the kernel goldens of test_passes_tf.c (run from tests/data/tf).
set -e
R=../../../scripts/ort_run.js
run() { m=$1; o=$2; shift 2; node $R $m.onnx "$@" --output-dir tmp_$m --quiet >/dev/null; mv tmp_$m/output_0.npy $o.npy; rm -rf tmp_$m; }
run k_attention23 k_att_y --input q=k_att_q.npy --input k=k_att_k.npy --input v=k_att_v.npy --input m=k_att_m.npy
run k_attention23_3d k_att3_y --input q=k_att3_q.npy --input k=k_att3_k.npy --input v=k_att3_v.npy
run k_msgelu k_msgelu_y --input x=k_gelu_x.npy
run k_fastgelu k_fastgelu_y --input x=k_gelu_x.npy
run k_ln13 k_ln_y --input x=k_ln_x.npy
