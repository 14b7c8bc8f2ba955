"""The study grid: specs expanded into trials, and engines that run them."""
