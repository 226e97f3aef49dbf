"""Orders to payment: ordering awarded products, fulfilment with trace codes, receiving, invoices and payments."""
