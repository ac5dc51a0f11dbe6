// The minimal extensions the Languages and Libraries page shows, one per SDK.

export const PYTHON_EXAMPLE = `import asyncio

from cirata import symphony


async def main():
    ext = symphony.Extension("Hello World", "hello")
    async with ext:
        await ext.operate()


if __name__ == "__main__":
    asyncio.run(main())`;

export const RUST_EXAMPLE = `use cirata_symphony::Extension;

#[tokio::main]
async fn main() -> Result<(), cirata_symphony::Error> {
    let mut ext = Extension::new("Hello World", "hello").with_description("My first extension");
    ext.run().await // registers, sends heartbeats, stops cleanly on Ctrl-C
}`;
