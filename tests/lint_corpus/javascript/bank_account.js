class InsufficientFunds extends Error {}

class Account {
  #balance = 0;

  constructor(owner) {
    this.owner = owner;
    this.history = [];
  }

  get balance() {
    return this.#balance;
  }

  deposit(amount) {
    if (amount <= 0) throw new RangeError('deposit must be positive');
    this.#balance += amount;
    this.history.push(['deposit', amount]);
  }

  withdraw(amount) {
    if (amount > this.#balance) throw new InsufficientFunds(`${this.owner} has only ${this.#balance}`);
    this.#balance -= amount;
    this.history.push(['withdraw', amount]);
  }
}

const acct = new Account('ada');
acct.deposit(100);
try {
  acct.withdraw(250);
} catch (err) {
  console.log('refused:', err.message, err instanceof InsufficientFunds);
}
console.log(acct.balance, acct.history);
