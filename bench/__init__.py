"""`make bench`: Rapport's throughput and latency beside the hardware floor, in one run."""
