"""The event bus on RabbitMQ (kombu): topology, publisher with confirms, consumer, DLQ tools."""
