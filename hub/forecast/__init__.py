"""What the hub learns and predicts from its own kitchen: prep times, ready times and how good they were."""
