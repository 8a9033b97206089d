package otlpretryexporter

func useTransport(e *otlpExporter, t transport) { e.transport = t }
