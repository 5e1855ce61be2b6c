"""MNIST with a 784-512-256-10 MLP: the recipe behind `chainrule train --dataset mnist`.

    python examples/mnist_mlp.py [DATA_DIR]      # default ../shared/data/mnist; ~98 % test accuracy

Adam (lr 1e-3) with a cosine decay over 10 epochs, dropout 0.2, batch 128. A checkpoint is
written after every epoch: stop the script with Ctrl-C and run it again to continue.
"""
import os
import sys

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import mnist, random_split
from chainrule.errors import ModelFileError
from chainrule.training import CSVLogger, TrainingInterrupted, evaluate, fit

data_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                              "data", "mnist")
ds = mnist(data_dir)                                 # X (N, 784) normalised, y (N,) in 0..9
train, val = random_split(ds.train, [55000, 5000], seed=0)

cr.manual_seed(0)
model = nn.Sequential(
    nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
    nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.2),
    nn.Linear(256, 10),
)
optimizer = optim.Adam(model.parameters(), lr=1e-3)
scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)

os.makedirs("mnist_run", exist_ok=True)
checkpoint = "mnist_run/checkpoint.safetensors"
if os.path.exists(checkpoint):  # resuming is deliberate here: say so (a changed model is refused by fit)
    print(f"resuming from {checkpoint} (delete mnist_run/ to start afresh)")
try:
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train, val=val, epochs=10, batch_size=128,
                  seed=0, scheduler=scheduler, callbacks=[CSVLogger("mnist_run/history.csv")],
                  checkpoint=checkpoint, resume=True)
except TrainingInterrupted as e:
    sys.exit(f"interrupted after {e.completed_epochs} epochs; run the script again to continue")
except ModelFileError as e:  # the checkpoint is of another architecture (the script was edited)
    sys.exit(f"error: {e}")

result = evaluate(model, ds.test, loss_fn=nn.CrossEntropyLoss())
print(f"test accuracy {result['accuracy']:.4f} after {len(history)} epochs "
      f"({sum(history['seconds']):.0f} s of training)")
cr.save(model, "mnist_run/model.safetensors", metadata={"test_accuracy": result["accuracy"]})
