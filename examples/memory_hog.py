chunks = []
while True:
    chunks.append(bytearray(16 << 20))
    print(f"holding {len(chunks) * 16} MB", flush=True)
