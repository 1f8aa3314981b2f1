"""Evaluation suites and benchmark scripts (VerilogEval v2, RTLLM, verifier speed)."""
