"""crossover's Python side: lm-evaluation-harness's model ``crossover`` and a W&B follower."""
