"""The training loop of the MNIST generators (make_mnist_demo.py, make_int8_model.py): one place, so both train alike.

train(make_model, x, y, seed=..., epochs=..., batch=..., learning_rate=...) seeds torch with `seed`, builds the model
with make_model() (its initial weights are drawn from that seed), and trains it on x [N, 1, 28, 28] float32 and y [N]
int64 labels: Adam, cross-entropy, a cosine learning-rate schedule over every step, minibatches in a seeded random
order each epoch. It prints the training loss per epoch and returns the model in eval mode. Deterministic for the
same arguments, torch version and thread count (the callers set one torch thread).
"""
import torch
import torch.nn.functional as F


def train(make_model, x, y, *, seed, epochs, batch, learning_rate):
    torch.manual_seed(seed)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * ((len(x) + batch - 1) // batch))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch):
            chosen = order[start:start + batch]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[chosen]), y[chosen])
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(chosen)
        print(f"      epoch {epoch + 1}/{epochs}: training loss {total / len(x):.4f}")
    return model.eval()
