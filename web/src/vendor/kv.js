// `@nats-io/kv` (JetStream key-value) for extension modules.
export * from "@nats-io/kv";
