"""Iris in about twenty-five lines: a 4-16-3 network judged by 5-fold cross-validation,
then trained on every flower and asked about new ones.

With 150 flowers, one 30-flower test set measures accuracy only to about ±4 points, so each
flower is tested once by a model trained on the other four fifths (``cross_validation``).

    python examples/iris.py
"""
import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import iris
from chainrule.training import fit, predict


def train(data):                                    # the iris recipe: tanh, Adam 1e-2 with cosine decay
    cr.manual_seed(0)                               # same weights and shuffles every run
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=0.01)
    fit(model, nn.CrossEntropyLoss(), opt, data.train, epochs=100, batch_size=16, seed=0, progress=False,
        scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100))
    return model


ds = iris()
correct = 0
for fold in ds.cross_validation(5):                 # each fold standardised by its own training part
    x, y = fold.test.arrays
    correct += int((predict(train(fold), x).argmax(1) == y).sum())
print(f"5-fold cross-validated accuracy: {correct}/150 = {correct / 150:.3f}")

everything = ds.pooled()                            # all 150 flowers as training data
model = train(everything)
flowers_cm = np.array([[5.1, 3.5, 1.4, 0.2], [6.0, 2.9, 4.5, 1.5], [6.9, 3.1, 5.4, 2.1]])
probs = predict(model, everything.transform(flowers_cm))  # centimetres -> model inputs -> probabilities
for row, p in zip(flowers_cm, probs):
    print(row, "->", ds.class_names[p.argmax()], f"({p.max():.0%})")
