"""Iris in about twenty lines: a 4-16-3 network, Adam, early stopping, then predictions.

    python examples/iris.py
"""
import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import iris, random_split
from chainrule.training import EarlyStopping, evaluate, fit, predict

cr.manual_seed(0)                                   # same weights, dropout and shuffles every run
ds = iris()                                         # 120 train / 30 test flowers, standardised
train, val = random_split(ds.train, [0.9, 0.1], seed=0)

model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01),
              train, val=val, epochs=100, batch_size=16, seed=0, progress=False,
              callbacks=[EarlyStopping(monitor="val_loss", patience=20)])

print(f"trained {len(history)} epochs; final train loss {history['loss'][-1]:.3f}")
print("test:", evaluate(model, ds.test, loss_fn=nn.CrossEntropyLoss()))

flowers_cm = np.array([[5.1, 3.5, 1.4, 0.2], [6.0, 2.9, 4.5, 1.5], [6.9, 3.1, 5.4, 2.1]])
probs = predict(model, ds.transform(flowers_cm))   # raw centimetres -> model inputs -> probabilities
for row, p in zip(flowers_cm, probs):
    print(row, "->", ds.class_names[p.argmax()], f"({p.max():.0%})")
