# Hostile: prints without end while being imported (bounded only so that a
# broken sandbox cannot fill the disk: 10 GB of lines).
for _i in range(10**8):
    print(f"line {_i}: all work and no play makes Jack a dull boy", flush=False)
