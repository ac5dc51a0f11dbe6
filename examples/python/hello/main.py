import asyncio

from cirata import symphony


async def main():
    ext = symphony.Extension("Hello World", "hello")
    async with ext:
        await ext.operate()


if __name__ == '__main__':
    asyncio.run(main())
