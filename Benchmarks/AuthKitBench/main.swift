print("AuthKit benchmarks: not yet written")
