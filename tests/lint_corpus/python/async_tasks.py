import asyncio


async def worker(name: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return f"{name} done"


async def main():
    results = await asyncio.gather(*(worker(f"w{i}", i / 100) for i in range(3)))
    print(results)


asyncio.run(main())
