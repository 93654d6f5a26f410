// Placeholder until the dashboards/alerts generator lands: generates nothing.
