print("Store benchmarks: not yet written")
