"""The benchmark of docs/performance.md (`make bench`) and the soak test skeleton (`make soak`)."""
