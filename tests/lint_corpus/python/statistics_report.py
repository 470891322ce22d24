import math
import statistics

scores = [72, 88, 95, 61, 79, 84, 90, 58, 77, 83]
mean = statistics.mean(scores)
stdev = statistics.stdev(scores)
print(f"mean={mean:.2f} median={statistics.median(scores)} stdev={stdev:.2f}")
print("z-scores:", [round((s - mean) / stdev, 2) for s in scores])
print("geometric mean:", math.prod(scores) ** (1 / len(scores)))
